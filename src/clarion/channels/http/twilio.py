"""Twilio Programmable Messaging: the Messages resource, status callbacks, inbound webhooks.

Contract (https://www.twilio.com/docs/messaging/api/message-resource,
https://twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks,
https://www.twilio.com/docs/usage/security#validating-requests):

- send: ``POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json``, HTTP Basic auth
  (AccountSid : AuthToken), form fields ``To``, ``From`` (or ``MessagingServiceSid``), ``Body``,
  ``StatusCallback``, ``ValidityPeriod`` (1-36000 s). 201 with a JSON Message (``sid``,
  ``num_segments``); errors are JSON ``{"code", "message", "status"}``.
- error classes: 429 / 20429 throttled; 5xx transient; 20003 (authentication) transient, since a
  fixed credential lets the same message through; other 4xx (21211 invalid To, 21610
  unsubscribed recipient, 21614 not a mobile number, 21408 region not enabled...) permanent.
- status callback: POST form ``MessageSid``, ``MessageStatus`` (queued, sending, sent,
  delivered, undelivered, failed), ``ErrorCode``; inbound: ``MessageSid``, ``From``, ``To``,
  ``Body``, ``NumSegments``. Both signed: ``X-Twilio-Signature`` = Base64(HMAC-SHA1(AuthToken,
  URL + every POST parameter name and value, sorted by name)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from pydantic import Field

from clarion.channels.base import Inbound, OutboundMessage, Receipt, ReportCallback, SendResult
from clarion.channels.config import ConnectorConfig
from clarion.channels.http.base import (
    THROTTLED,
    CallbackRequest,
    CallbackResult,
    HttpChannel,
    HttpSettings,
    SignatureError,
    basic_auth,
    json_of,
    now_utc,
    to_e164,
)
from clarion.channels.registry import Provider

_FINAL = {"delivered": "DELIVRD", "undelivered": "UNDELIV", "failed": "REJECTD"}
_TRANSIENT_CODES = {20003, 20429, 20500, 20503, 30001}


class Settings(HttpSettings):
    """A Twilio account (or subaccount) and its sender."""

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: str = Field(min_length=8)
    messaging_service_sid: str | None = Field(None, pattern=r"^MG[0-9a-fA-F]{32}$")
    verify_signatures: bool = True


def signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Return the X-Twilio-Signature Twilio computes for a request to ``url``."""
    data = url + "".join(k + params[k] for k in sorted(params))
    mac = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


class TwilioChannel(HttpChannel):
    """Send through the Messages resource, one request per message."""

    default_base_url = "https://api.twilio.com"

    async def submit(self, msg: OutboundMessage) -> SendResult:
        cfg = self.config
        sid = str(cfg.get("account_sid"))
        data = {"To": to_e164(msg.to), "Body": msg.text or ""}
        sender = msg.sender or cfg.get("sender")
        if cfg.get("messaging_service_sid"):
            data["MessagingServiceSid"] = str(cfg.get("messaging_service_sid"))
        elif sender:
            data["From"] = str(sender)
        callback = cfg.callback_url("status")
        if callback:
            data["StatusCallback"] = callback
        if msg.validity is not None:
            data["ValidityPeriod"] = str(max(1, min(36000, int(msg.validity.total_seconds()))))
        resp = await self.http.post(
            f"{self.base_url}/2010-04-01/Accounts/{sid}/Messages.json",
            data=data,
            headers={"Authorization": basic_auth(sid, str(cfg.get("auth_token")))},
        )
        body = json_of(resp.content) or {}
        if resp.status_code in (200, 201) and body.get("sid"):
            return SendResult.submitted(msg.ref, [str(body["sid"])])
        code = body.get("code")
        text = str(body.get("message") or resp.reason_phrase)
        if resp.status_code == 429 or code == 20429:
            return SendResult.failed(msg.ref, permanent=False, code=THROTTLED, message=text)
        permanent = resp.status_code < 500 and code not in _TRANSIENT_CODES
        return SendResult.failed(
            msg.ref, permanent=permanent, code=str(code or f"HTTP{resp.status_code}"), message=text
        )


def _called_url(cfg: ConnectorConfig, event: str, req: CallbackRequest) -> str:
    """Return the URL Twilio called: our public one when set (a proxy may rewrite req.url)."""
    public = cfg.callback_url(event)
    if not public:
        return req.url
    _, sep, query = req.url.partition("?")
    return public + (sep + query if query else "")


def handle_callback(cfg: ConnectorConfig, event: str, req: CallbackRequest) -> CallbackResult:
    """Verify Twilio's signature and map a status or inbound webhook."""
    params = req.params()
    if cfg.get("verify_signatures", True):
        given = req.headers.get("x-twilio-signature", "")
        expected = signature(str(cfg.get("auth_token")), _called_url(cfg, event, req), req.form)
        if not hmac.compare_digest(given, expected):
            raise SignatureError("X-Twilio-Signature does not match")
    if event == "inbound":
        inbound = Inbound(
            sender=params.get("From", "").lstrip("+"),
            to=params.get("To", "").lstrip("+"),
            text=params.get("Body", ""),
            received_at=now_utc(),
            parts=int(params.get("NumSegments") or 1),
            connector=cfg.name,
        )
        return CallbackResult(
            [inbound], body=b"<Response></Response>", media_type="application/xml"
        )
    status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    if not sid:
        return CallbackResult(status_code=400, body=b"MessageSid missing")
    receipt = Receipt(
        provider_id=sid,
        state=_FINAL.get(status, "ENROUTE"),
        final=status in _FINAL,
        error=params.get("ErrorCode") or None,
        done_at=now_utc(),
        connector=cfg.name,
    )
    return CallbackResult([receipt])


def build(cfg: ConnectorConfig, on_report: ReportCallback | None) -> TwilioChannel:
    """Return the channel of a Twilio connector."""
    return TwilioChannel(cfg, on_report)


PROVIDER = Provider(
    kind="twilio",
    channel="sms",
    settings=Settings,
    secrets=("auth_token",),
    build=build,
    callback=handle_callback,
)
