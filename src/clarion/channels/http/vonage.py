"""Vonage (Nexmo) SMS API: ``/sms/json``, optional request signing, DLR and inbound webhooks.

Contract (https://developer.vonage.com/en/api/sms, the SMS API response codes,
https://developer.vonage.com/messaging/sms/guides/delivery-receipts and
https://developer.vonage.com/getting-started/concepts/signing-messages):

- send: ``POST {base}/sms/json`` form ``api_key``, ``api_secret`` -- or, with a signature
  secret, ``timestamp`` and ``sig`` instead of the secret -- ``from``, ``to`` (no ``+``),
  ``text``, ``type=unicode`` for non-GSM text, ``callback`` (DLR URL), ``client-ref``,
  ``status-report-req=1``, ``ttl`` (ms). 200 with ``{"message-count", "messages": [{"status",
  "message-id", "error-text"}, ...]}``, one entry per part.
- status codes: 0 success; 1 throttled; 5 internal error and 10 too many binds (transient);
  4 invalid credentials, 14 invalid signature, 32 signature and secret both sent (a setting:
  transient); 2, 3, 6, 7, 8, 9, 11, 12, 15, 22, 23, 29, 33 (invalid or barred number, quota,
  non-whitelisted destination...) permanent.
- signature: parameters sorted by name, ``&`` and ``=`` in values replaced by ``_``, joined as
  ``&k=v``; ``md5hash`` is MD5(joined + secret) in hex, the HMAC methods are
  HMAC(secret, joined) in upper-case hex. Inbound and DLR webhooks carry ``sig`` the same way
  when signed webhooks are on.
- DLR: ``messageId``, ``status`` (delivered, expired, failed, rejected, accepted, buffered,
  unknown), ``err-code``, ``msisdn``, ``client-ref``; inbound: ``msisdn``, ``to``, ``text``,
  ``messageId``, ``concat*``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Literal

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
    is_gsm,
    json_of,
    now_utc,
)
from clarion.channels.registry import Provider

_TRANSIENT = {"4", "5", "10", "14", "32"}
_STATES = {
    "delivered": "DELIVRD",
    "expired": "EXPIRED",
    "failed": "UNDELIV",
    "rejected": "REJECTD",
    "unknown": "UNKNOWN",
}
Method = Literal["md5hash", "md5", "sha1", "sha256", "sha512"]


class Settings(HttpSettings):
    """A Vonage API key, its secret and optionally its signature secret and method."""

    api_key: str = Field(min_length=1)
    api_secret: str | None = None
    signature_secret: str | None = None
    signature_method: Method = "md5hash"
    verify_signatures: bool = False  # signed webhooks are switched on per account by Vonage


def sign(params: Mapping[str, str], secret: str, method: str) -> str:
    """Return Vonage's ``sig`` over ``params`` (``sig`` itself excluded)."""
    joined = "".join(
        f"&{k}={str(params[k]).replace('&', '_').replace('=', '_')}"
        for k in sorted(params)
        if k != "sig"
    )
    if method == "md5hash":
        return hashlib.md5((joined + secret).encode()).hexdigest()
    return hmac.new(secret.encode(), joined.encode(), method).hexdigest().upper()


class VonageChannel(HttpChannel):
    """One ``/sms/json`` request per message; Vonage splits long texts and answers per part."""

    default_base_url = "https://rest.nexmo.com"

    async def submit(self, msg: OutboundMessage) -> SendResult:
        cfg = self.config
        text = msg.text or ""
        data = {
            "api_key": str(cfg.get("api_key")),
            "to": msg.to.lstrip("+"),
            "from": str(msg.sender or cfg.get("sender") or ""),
            "text": text,
            "client-ref": msg.ref,
            "status-report-req": "1",
        }
        if not is_gsm(text):
            data["type"] = "unicode"
        callback = cfg.callback_url("status")
        if callback:
            data["callback"] = callback
        if msg.validity is not None:
            data["ttl"] = str(int(msg.validity.total_seconds() * 1000))
        secret = cfg.get("signature_secret")
        if secret:
            data["timestamp"] = str(int(time.time()))
            data["sig"] = sign(data, str(secret), str(cfg.get("signature_method", "md5hash")))
        else:
            data["api_secret"] = str(cfg.get("api_secret") or "")
        resp = await self.http.post(f"{self.base_url}/sms/json", data=data)
        body = json_of(resp.content)
        parts = body.get("messages") if isinstance(body, dict) else None
        if resp.status_code != 200 or not parts:
            return SendResult.failed(
                msg.ref,
                permanent=400 <= resp.status_code < 500 and resp.status_code != 429,
                code=THROTTLED if resp.status_code == 429 else f"HTTP{resp.status_code}",
                message=resp.text[:200],
            )
        bad = [p for p in parts if str(p.get("status")) != "0"]
        ids = [str(p["message-id"]) for p in parts if str(p.get("status")) == "0"]
        if not bad:
            return SendResult.submitted(msg.ref, ids)
        code = str(bad[0].get("status"))
        if code == "1":
            return SendResult.failed(msg.ref, permanent=False, code=THROTTLED, provider_ids=ids)
        return SendResult.failed(
            msg.ref,
            permanent=code not in _TRANSIENT,
            code=code,
            message=str(bad[0].get("error-text", "")),
            provider_ids=ids,
            parts=len(parts),
        )


def handle_callback(cfg: ConnectorConfig, event: str, req: CallbackRequest) -> CallbackResult:
    """Verify (when configured) and map a Vonage DLR or inbound webhook (GET, form or JSON)."""
    params = dict(req.params())
    if req.headers.get("content-type", "").startswith("application/json"):
        doc = json_of(req.body)
        if isinstance(doc, dict):
            params.update({k: str(v) for k, v in doc.items() if v is not None})
    if cfg.get("verify_signatures"):
        secret = str(cfg.get("signature_secret") or "")
        expected = sign(params, secret, str(cfg.get("signature_method", "md5hash")))
        if not secret or not hmac.compare_digest(params.get("sig", "").lower(), expected.lower()):
            raise SignatureError("Vonage sig does not match")
    if event == "inbound":
        inbound = Inbound(
            sender=params.get("msisdn", ""),
            to=params.get("to", ""),
            text=params.get("text", ""),
            received_at=now_utc(),
            parts=int(params.get("concat-total") or 1),
            connector=cfg.name,
        )
        return CallbackResult([inbound])
    pid = params.get("messageId", "")
    if not pid:
        return CallbackResult(status_code=400, body=b"messageId missing")
    status = params.get("status", "")
    err = params.get("err-code")
    receipt = Receipt(
        pid,
        _STATES.get(status, "ENROUTE"),
        final=status in _STATES,
        error=err if err not in (None, "", "0") else None,
        done_at=now_utc(),
        connector=cfg.name,
    )
    return CallbackResult([receipt])


def build(cfg: ConnectorConfig, on_report: ReportCallback | None) -> VonageChannel:
    """Return the channel of a Vonage connector."""
    return VonageChannel(cfg, on_report)


PROVIDER = Provider(
    kind="vonage",
    channel="sms",
    settings=Settings,
    secrets=("api_secret", "signature_secret"),
    build=build,
    callback=handle_callback,
)
