"""Kannel bearerbox/smsbox: ``/cgi-bin/sendsms`` with ``dlr-url`` and ``dlr-mask``.

Contract (Kannel User's Guide, "Setting up a SMS Gateway": sendsms CGI variables and the
``dlr-url`` escape codes; https://www.kannel.org/download/kannel-userguide-snapshot/userguide.html):

- send: ``GET {base}/cgi-bin/sendsms?username&password&from&to&text&charset=UTF-8&coding``
  (0 GSM-7, 2 UCS-2), ``validity`` (minutes), ``dlr-mask`` and ``dlr-url`` (URL-encoded).
  Kannel answers ``202 "0: Accepted for delivery"`` or ``"3: Queued for later delivery"``;
  errors are text: ``403 Authorization failed``, ``400``/``4xx`` for missing or bad arguments
  (permanent), ``503 Sending failed`` and other 5xx (transient).
- Kannel returns no message id, so Clarion makes one and embeds it in the ``dlr-url`` together
  with the escapes ``%d`` (DLR type) and ``%A`` (the SMSC's DLR text).
- DLR types (``%d``): 1 delivered to phone, 2 non-delivered to phone, 4 queued on SMSC,
  8 delivered to SMSC, 16 non-delivered to SMSC. Final: 1 -> DELIVRD, 2 -> UNDELIV (or
  EXPIRED when the SMSC's text says so), 16 -> REJECTD; 4 and 8 are intermediate. Default
  mask 19 = 1 + 2 + 16 (final reports only), plus 8 when ``dlr_smsc`` is set.
- inbound: an ``sms-service`` with ``get-url = <callback>/inbound?from=%p&to=%P&text=%a``.
Kannel does not sign callbacks; the connector's unguessable callback key authenticates them.
"""

from __future__ import annotations

import uuid

from pydantic import Field

from clarion.channels.base import Inbound, OutboundMessage, Receipt, ReportCallback, SendResult
from clarion.channels.config import ConnectorConfig
from clarion.channels.http.base import (
    CallbackRequest,
    CallbackResult,
    HttpChannel,
    HttpSettings,
    is_gsm,
    now_utc,
)
from clarion.channels.registry import Provider

_FINAL = {1: "DELIVRD", 2: "UNDELIV", 16: "REJECTD"}


class Settings(HttpSettings):
    """A Kannel sendsms-user and the smsbox it talks to."""

    username: str = Field(min_length=1)
    password: str = Field(min_length=1)
    smsc: str | None = None  # force a specific SMSC id
    dlr_smsc: bool = False  # also ask for "delivered to SMSC" (8), which is not final


class KannelChannel(HttpChannel):
    """One sendsms request per message; Kannel splits long texts itself."""

    default_base_url = "http://127.0.0.1:13013"

    async def submit(self, msg: OutboundMessage) -> SendResult:
        cfg = self.config
        text = msg.text or ""
        pid = uuid.uuid4().hex
        params = {
            "username": str(cfg.get("username")),
            "password": str(cfg.get("password")),
            "to": msg.to.lstrip("+"),
            "text": text,
            "charset": "UTF-8",
            "coding": "0" if is_gsm(text) else "2",
        }
        sender = msg.sender or cfg.get("sender")
        if sender:
            params["from"] = str(sender)
        if cfg.get("smsc"):
            params["smsc"] = str(cfg.get("smsc"))
        if msg.validity is not None:
            params["validity"] = str(max(1, int(msg.validity.total_seconds() // 60)))
        callback = cfg.callback_url("status")
        if callback:
            params["dlr-mask"] = str(19 | (8 if cfg.get("dlr_smsc") else 0))
            # %d and %A are Kannel's escapes, expanded when the report comes back.
            params["dlr-url"] = f"{callback}?id={pid}&type=%d&report=%A"
        resp = await self.http.get(f"{self.base_url}/cgi-bin/sendsms", params=params)
        body = resp.text.strip()
        if 200 <= resp.status_code < 300:
            return SendResult.submitted(msg.ref, [pid])
        code = f"HTTP{resp.status_code}"
        permanent = 400 <= resp.status_code < 500 and resp.status_code not in (403, 408, 429)
        return SendResult.failed(msg.ref, permanent=permanent, code=code, message=body[:200])


def handle_callback(cfg: ConnectorConfig, event: str, req: CallbackRequest) -> CallbackResult:
    """Map a Kannel DLR (``dlr-url``) or an inbound message (``get-url``)."""
    params = req.params()
    if event == "inbound":
        inbound = Inbound(
            sender=params.get("from", "").lstrip("+"),
            to=params.get("to", "").lstrip("+"),
            text=params.get("text", ""),
            received_at=now_utc(),
            connector=cfg.name,
        )
        return CallbackResult([inbound], body=b"")
    pid = params.get("id", "")
    try:
        kind = int(params.get("type", ""))
    except ValueError:
        return CallbackResult(status_code=400, body=b"type (%d) missing or not a number")
    if not pid:
        return CallbackResult(status_code=400, body=b"id missing")
    report = params.get("report", "")
    state = _FINAL.get(kind, "ENROUTE")
    if kind == 2 and "EXPIRED" in report.upper():
        state = "EXPIRED"
    err = _err_of(report)
    receipt = Receipt(
        pid, state, final=kind in _FINAL, error=err, done_at=now_utc(), connector=cfg.name
    )
    return CallbackResult([receipt], body=b"OK")


def _err_of(report: str) -> str | None:
    """Return the ``err:`` field of an SMSC DLR text (``id:.. stat:UNDELIV err:034 ...``)."""
    for token in report.split():
        if token.lower().startswith("err:"):
            return token[4:] or None
    return None


def build(cfg: ConnectorConfig, on_report: ReportCallback | None) -> KannelChannel:
    """Return the channel of a Kannel connector."""
    return KannelChannel(cfg, on_report)


PROVIDER = Provider(
    kind="kannel",
    channel="sms",
    settings=Settings,
    secrets=("password",),
    build=build,
    callback=handle_callback,
)
