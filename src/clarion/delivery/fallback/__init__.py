"""Cross-channel fallback: the policy shape shared by the send API and campaigns.

A message that fails on its channel, or is not delivered within a set time, goes out once more on
another channel (SMS -> email is the usual case). The policy is one small JSON document,
:class:`FallbackPolicy`, written the same way wherever it comes from:

```json
{"channel": "email", "after_s": 600, "on_failure": true,
 "template": "order_confirmation",
 "subject": "Your order {{ order.id }}", "text": "...", "html": "...", "to": null}
```

- ``channel``: where the message goes next (``email`` or ``sms``); it must differ from the
  message's own channel and the workspace needs an active route on it.
- ``after_s``: "not delivered within N seconds" -- counted from the message's ``send_at`` (when it
  was due), so a message still queued behind a connector that is down falls back too. ``None``:
  no timer, only failures trigger the fallback.
- ``on_failure``: a final failure on the first channel (no route left to fail over to, a permanent
  error, an undelivered receipt, expiry) triggers the fallback.
- content on the fallback channel, first that applies: ``template`` (a saved template of that
  name on the fallback *channel*, e.g. the ``email`` variant of ``order_confirmation``; an email
  template may start with a ``Subject: ...`` line), else the inline ``subject`` / ``text`` /
  ``html`` templates, else the original message's text. Templates render with the contact's
  context (``contact.first_name`` ...), like every other Clarion template.
- ``to``: the destination on the fallback channel; ``None`` takes the contact's email (or phone).

Where the policy lives:
- **send API**: ``SendRequest.fallback`` (JSON ``fallback`` of ``POST /v1/messages``); after
  persisting the message, ``clarion.sending`` calls :func:`attach` with
  ``parse_policy(req.fallback)``, which keeps one ``message_fallbacks`` row carrying the timer.
- **campaigns**: the campaign's ``failover`` document holds the same shape under ``fallback``
  (and the older ``fallback_channel: "email"`` still means ``{"channel": "email"}``).

Before a message moves, ``clarion.compliance.evaluate`` decides for the new channel (consent,
suppression, caps, quiet hours); a contact who opted out there gets no fallback.

Exactly once: a fallback is a conditional UPDATE of the outbox row from the state the caller saw
(``queued`` / ``submitted`` / ``uncertain``, never ``sending``) to ``queued`` on the new channel,
inside a transaction that locks the row (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the single
writer lock on SQLite). The same row then carries the message, so it can never be queued on both
channels, and a late receipt from the first route no longer matches it.
"""

from clarion.delivery.fallback.policy import FallbackPolicy, parse_policy, policy_of_failover
from clarion.delivery.fallback.service import attach, due_timers, fire_due

__all__ = [
    "FallbackPolicy",
    "attach",
    "due_timers",
    "fire_due",
    "parse_policy",
    "policy_of_failover",
]
