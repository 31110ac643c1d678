"""EngageLab SMS: ``POST /v1/messages`` with Basic auth, and signed event callbacks.

Contract (https://www.engagelab.com/docs/sms/api/send-message,
https://www.engagelab.com/docs/sms/api/callback):

- send: ``POST {base}/v1/messages``, ``Authorization: Basic base64(dev_key:dev_secret)``,
  JSON ``{"to": ["<number>"], "template": {"id", "params": {...}}, "custom_args": {...}}``.
  The text goes into the template's variable ``template_param`` (a template whose body is
  that one variable, as EngageLab's own example does with ``content``). Success is 200 with
  ``{"plan_id", "total_count", "accepted_count", "message_id"}``; errors carry ``{"code",
  "message"}`` with an HTTP error status: 401/403 (credentials: transient), 429 (throttled),
  other 4xx (permanent), 5xx (transient).
- callbacks: a POST of ``{"total", "rows": [...]}``; a status row has ``message_id``,
  ``to``, ``status: {"message_status", "error_code"}`` where ``delivered`` is final success,
  ``delivered_failed`` / ``sent_failed`` / ``target_invalid`` are final failures and
  ``plan`` / ``target_valid`` / ``sent`` intermediate; an uplink (reply) row has
  ``response: {"event": "uplink_message", "response_data": {"from", "to", "content"}}``
  (the uplink field names are our reading of the callback reference; the status ones are
  documented). With a callback username and secret configured, every callback carries
  ``X-CALLBACK-ID: timestamp=..;nonce=..;username=..;signature=..`` where signature =
  hex(HMAC-SHA256(secret, timestamp + nonce + username)).
"""

from __future__ import annotations

import hashlib
import hmac

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
)
from clarion.channels.registry import Provider

_FAILED = {"delivered_failed": "UNDELIV", "sent_failed": "REJECTD", "target_invalid": "REJECTD"}


class Settings(HttpSettings):
    """An EngageLab API key pair and the template that carries our text."""

    dev_key: str = Field(min_length=1)
    dev_secret: str = Field(min_length=1)
    template_id: str = Field(min_length=1)
    template_param: str = "content"
    callback_username: str | None = None
    callback_secret: str | None = None


def callback_signature(secret: str, timestamp: str, nonce: str, username: str) -> str:
    """Return the X-CALLBACK-ID signature EngageLab computes."""
    msg = f"{timestamp}{nonce}{username}".encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


class EngagelabChannel(HttpChannel):
    """One ``/v1/messages`` call per message."""

    default_base_url = "https://smsapi.engagelab.com"

    async def submit(self, msg: OutboundMessage) -> SendResult:
        cfg = self.config
        payload = {
            "to": [msg.to.lstrip("+")],
            "template": {
                "id": str(cfg.get("template_id")),
                "params": {str(cfg.get("template_param", "content")): msg.text or ""},
            },
            "custom_args": {"clarion_ref": msg.ref},
        }
        resp = await self.http.post(
            f"{self.base_url}/v1/messages",
            json=payload,
            headers={
                "Authorization": basic_auth(str(cfg.get("dev_key")), str(cfg.get("dev_secret")))
            },
        )
        body = json_of(resp.content) or {}
        if resp.status_code == 200 and body.get("message_id"):
            return SendResult.submitted(msg.ref, [str(body["message_id"])])
        code = str(body.get("code") or f"HTTP{resp.status_code}")
        text = str(body.get("message") or resp.reason_phrase)
        if resp.status_code == 429:
            return SendResult.failed(msg.ref, permanent=False, code=THROTTLED, message=text)
        permanent = 400 <= resp.status_code < 500 and resp.status_code not in (401, 403, 408)
        return SendResult.failed(msg.ref, permanent=permanent, code=code, message=text)


def _verify(cfg: ConnectorConfig, req: CallbackRequest) -> None:
    secret, user = cfg.get("callback_secret"), cfg.get("callback_username")
    if not secret or not user:
        return
    fields = dict(
        part.split("=", 1)
        for part in req.headers.get("x-callback-id", "").split(";")
        if "=" in part
    )
    expected = callback_signature(
        str(secret), fields.get("timestamp", ""), fields.get("nonce", ""), str(user)
    )
    if fields.get("username") != user or not hmac.compare_digest(
        fields.get("signature", ""), expected
    ):
        raise SignatureError("X-CALLBACK-ID signature does not match")


def handle_callback(cfg: ConnectorConfig, event: str, req: CallbackRequest) -> CallbackResult:
    """Verify and map a callback batch; the console's availability probe (``{}``) gets 200."""
    _verify(cfg, req)
    doc = json_of(req.body)
    rows = doc.get("rows") if isinstance(doc, dict) else None
    reports: list[Receipt | Inbound] = []
    for row in rows or []:
        if not isinstance(row, dict):
            continue
        response = row.get("response")
        if isinstance(response, dict) and response.get("event") == "uplink_message":
            data = response.get("response_data") or {}
            reports.append(
                Inbound(
                    sender=str(data.get("from") or row.get("from") or "").lstrip("+"),
                    to=str(data.get("to") or row.get("to") or "").lstrip("+"),
                    text=str(data.get("content") or ""),
                    received_at=now_utc(),
                    connector=cfg.name,
                )
            )
            continue
        status = row.get("status")
        if not isinstance(status, dict) or not row.get("message_id"):
            continue
        state = str(status.get("message_status", ""))
        final = state == "delivered" or state in _FAILED
        err = status.get("error_code")
        reports.append(
            Receipt(
                str(row["message_id"]),
                "DELIVRD" if state == "delivered" else _FAILED.get(state, "ENROUTE"),
                final=final,
                error=str(err) if err not in (None, 0, "0", "") else None,
                done_at=now_utc(),
                connector=cfg.name,
            )
        )
    return CallbackResult(reports)


def build(cfg: ConnectorConfig, on_report: ReportCallback | None) -> EngagelabChannel:
    """Return the channel of an EngageLab connector."""
    return EngagelabChannel(cfg, on_report)


PROVIDER = Provider(
    kind="engagelab",
    channel="sms",
    settings=Settings,
    secrets=("dev_secret", "callback_secret"),
    build=build,
    callback=handle_callback,
)
