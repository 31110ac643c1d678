"""Provider callbacks: find the connector, verify, map, and apply what the provider reported.

Receipts go to :func:`clarion.delivery.receipts.apply_receipts` (the same path SMPP receipts
take), inbound messages to every handler in :func:`clarion.delivery.hooks.inbound_handlers`.

A receipt can overtake our own bookkeeping: a fast provider may call back before the worker
has written the submit (the message is still ``sending`` and no attempt carries the provider
id yet). Such a receipt is not dropped: the callback is answered 503 so that providers that
retry (Vonage, Kannel, Jasmin, Alibaba Cloud, Tencent Cloud) deliver it again a little later.
Receipts for ids we know but that no longer match (the message moved on) are acknowledged.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import cast

from sqlalchemy.engine import Engine

from clarion.channels.base import Inbound, Receipt
from clarion.channels.http.base import CallbackRequest, CallbackResult, SignatureError
from clarion.channels.registry import provider
from clarion.channels.service import config_by_callback_key
from clarion.db.types import utcnow
from clarion.errors import NotFound

log = logging.getLogger("clarion.callbacks")

EVENTS = ("status", "inbound", "bounce")


def handle_callback(engine: Engine, key: str, event: str, req: CallbackRequest) -> CallbackResult:
    """Handle one provider callback; return what to answer the provider."""
    from clarion.delivery.hooks import inbound_handlers
    from clarion.delivery.receipts import apply_receipts, split_known

    if event not in EVENTS:
        raise NotFound(f"no callback event {event!r}", field="event", value=event)
    with engine.connect() as conn:
        cfg = config_by_callback_key(conn, key)
    prov = provider(cfg.kind)
    if prov.callback is None:
        raise NotFound(f"{cfg.kind} connectors take no callbacks", field="connector")
    try:
        result = cast(CallbackResult, prov.callback(cfg, event, req))
    except SignatureError as exc:
        log.warning("callback for connector %s refused: %s", cfg.name, exc)
        return CallbackResult(status_code=403, body=str(exc).encode())
    receipts = [r for r in result.reports if isinstance(r, Receipt) and r.final]
    inbound = [r for r in result.reports if isinstance(r, Inbound)]
    if receipts:
        with engine.begin() as conn:
            ready, _early = split_known(conn, receipts)
            done: Counter[str] = apply_receipts(conn, ready, now=utcnow())
        if len(ready) < len(receipts):
            log.info(
                "connector %s: %d receipts ahead of their submit",
                cfg.name,
                len(receipts) - len(ready),
            )
            return CallbackResult(status_code=503, body=b"retry later")
        log.debug("connector %s receipts: %s", cfg.name, dict(done))
    if inbound:
        for name, handle in inbound_handlers():
            try:
                handle(engine, cfg.workspace_id, inbound)
            except Exception:
                log.exception("inbound handler %s failed on %d messages", name, len(inbound))
    return result
