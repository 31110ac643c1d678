"""Jasmin SMS gateway: the HTTP API ``/send`` with DLR callbacks, and HTTP MO delivery.

Contract (Jasmin documentation, "HTTP API": sending SMS, receiving DLR, receiving SMS (MO);
https://docs.jasminsms.com/en/latest/apis/ja-http/index.html):

- send: ``POST {base}/send`` (form) ``username``, ``password``, ``to``, ``content``,
  ``from``, ``coding`` (0 GSM, 8 UCS-2), ``validity-period`` (minutes), ``dlr=yes``,
  ``dlr-url``, ``dlr-level`` (1 SMSC, 2 terminal, 3 both), ``dlr-method``.
  Success: ``200 Success "<message id>"``. Errors: ``400 Error "Mandatory argument ..."``
  (bad request, permanent), ``401``/``403`` authentication / credentials (a connector setting:
  transient), ``412 Error "No route found"`` (permanent on this route: failover moves on),
  ``500`` (transient).
- DLR: ``id``, ``message_status`` (level 1: ``ESME_ROK`` or an ESME error; level 2:
  DELIVRD, EXPIRED, UNDELIV, REJECTD, ...), ``level``, ``err``, ``donedate``. Jasmin retries
  until the body is exactly ``ACK/Jasmin``.
- MO: ``id``, ``from``, ``to``, ``content`` (or ``binary`` hex), ``coding``; also answered
  ``ACK/Jasmin``.
Jasmin does not sign callbacks; the connector's unguessable callback key authenticates them.
"""

from __future__ import annotations

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

ACK = b"ACK/Jasmin"
_FINAL = {"DELIVRD", "EXPIRED", "UNDELIV", "REJECTD", "DELETED", "UNKNOWN"}


class Settings(HttpSettings):
    """A Jasmin HTTP API user."""

    username: str = Field(min_length=1)
    password: str = Field(min_length=1)
    dlr_level: int = Field(2, ge=1, le=3)


class JasminChannel(HttpChannel):
    """One ``/send`` per message."""

    default_base_url = "http://127.0.0.1:1401"

    async def submit(self, msg: OutboundMessage) -> SendResult:
        cfg = self.config
        text = msg.text or ""
        data = {
            "username": str(cfg.get("username")),
            "password": str(cfg.get("password")),
            "to": msg.to.lstrip("+"),
            "content": text,
            "coding": "0" if is_gsm(text) else "8",
        }
        sender = msg.sender or cfg.get("sender")
        if sender:
            data["from"] = str(sender)
        if msg.validity is not None:
            data["validity-period"] = str(max(1, int(msg.validity.total_seconds() // 60)))
        callback = cfg.callback_url("status")
        if callback:
            data.update(
                {
                    "dlr": "yes",
                    "dlr-url": callback,
                    "dlr-level": str(cfg.get("dlr_level", 2)),
                    "dlr-method": "POST",
                }
            )
        resp = await self.http.post(f"{self.base_url}/send", data=data)
        body = resp.text.strip()
        if resp.status_code == 200 and body.startswith("Success"):
            return SendResult.submitted(msg.ref, [body.split('"')[1] if '"' in body else body[8:]])
        status = resp.status_code
        permanent = status in (400, 412)
        return SendResult.failed(
            msg.ref, permanent=permanent, code=f"HTTP{status}", message=body[:200]
        )


def handle_callback(cfg: ConnectorConfig, event: str, req: CallbackRequest) -> CallbackResult:
    """Map a Jasmin DLR or MO, answering ``ACK/Jasmin`` so it stops retrying."""
    params = req.params()
    if event == "inbound":
        content = params.get("content", "")
        if not content and params.get("binary"):
            raw = bytes.fromhex(params["binary"])
            content = raw.decode("utf-16-be" if params.get("coding") == "8" else "latin-1")
        inbound = Inbound(
            sender=params.get("from", "").lstrip("+"),
            to=params.get("to", "").lstrip("+"),
            text=content,
            received_at=now_utc(),
            connector=cfg.name,
        )
        return CallbackResult([inbound], body=ACK)
    pid = params.get("id", "")
    if not pid:
        return CallbackResult(status_code=400, body=b"id missing")
    status = params.get("message_status", "")
    level = params.get("level", "2")
    if level == "1":  # SMSC level: only a refusal is final
        final = status != "ESME_ROK"
        state = "REJECTD" if final else "ACCEPTD"
    else:
        final = status in _FINAL
        state = status if final else "ENROUTE"
    err = params.get("err") or (status if level == "1" and final else None)
    receipt = Receipt(pid, state, final=final, error=err, done_at=now_utc(), connector=cfg.name)
    return CallbackResult([receipt], body=ACK)


def build(cfg: ConnectorConfig, on_report: ReportCallback | None) -> JasminChannel:
    """Return the channel of a Jasmin connector."""
    return JasminChannel(cfg, on_report)


PROVIDER = Provider(
    kind="jasmin",
    channel="sms",
    settings=Settings,
    secrets=("password",),
    build=build,
    callback=handle_callback,
)
