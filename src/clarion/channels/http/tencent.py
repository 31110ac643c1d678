"""Tencent Cloud SMS: SendSms (API 3.0, version 2021-01-11) signed with TC3-HMAC-SHA256.

Contract (https://www.tencentcloud.com/document/product/382/40466 common parameters,
the "Signature v3" page of TencentCloud API, the SendSms API and SMS callback documentation):

- send: ``POST {base}/`` JSON ``{"PhoneNumberSet": ["+86..."], "SmsSdkAppId", "SignName",
  "TemplateId", "TemplateParamSet": [...], "SessionContext"}`` with headers ``X-TC-Action:
  SendSms``, ``X-TC-Version: 2021-01-11``, ``X-TC-Timestamp``, ``X-TC-Region`` and
  ``Authorization: TC3-HMAC-SHA256 Credential=<SecretId>/<date>/sms/tc3_request,
  SignedHeaders=content-type;host, Signature=<hex>``.
- TC3: CanonicalRequest = the lines ``POST``, ``/``, empty query, ``content-type:<ct>``,
  ``host:<host>``, empty, ``content-type;host``, SHA256hex(payload); StringToSign = the
  lines ``TC3-HMAC-SHA256``, timestamp, ``<date>/sms/tc3_request``, SHA256hex(CanonicalRequest);
  key = the HMAC-SHA256 chain ``"TC3"+SecretKey`` -> date -> ``sms`` ->
  ``tc3_request``; Signature = hex(HMAC(key, StringToSign)).
- answer: ``{"Response": {"SendStatusSet": [{"SerialNo", "Code": "Ok", ...}], "RequestId"}}``
  or a request error ``{"Response": {"Error": {"Code", "Message"}}}``. Codes: ``Ok``;
  throttled ``LimitExceeded.*``; transient ``InternalError.*``, ``AuthFailure.*``,
  ``RequestLimitExceeded``, ``FailedOperation.InsufficientBalanceInSmsPackage``; permanent
  other ``InvalidParameterValue.*`` / ``FailedOperation.*`` / ``UnsupportedOperation.*``.
- the rendered text goes in ``TemplateParamSet`` (one variable) of an approved template.
- callbacks (configured in the console): status is a JSON array of ``{"sid", "mobile",
  "report_status": "SUCCESS"|"FAIL", "errmsg", "user_receive_time"}``; a reply is one object
  ``{"mobile", "nationcode", "text", "sign", "time", "extend"}``; both answered
  ``{"result": 0, "errmsg": "OK"}``.
Tencent Cloud does not sign these callbacks; the connector's unguessable callback key does.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import orjson
from pydantic import Field

from clarion.channels.base import Inbound, OutboundMessage, Receipt, ReportCallback, SendResult
from clarion.channels.config import ConnectorConfig
from clarion.channels.http.base import (
    THROTTLED,
    CallbackRequest,
    CallbackResult,
    HttpChannel,
    HttpSettings,
    json_of,
    now_utc,
    to_e164,
)
from clarion.channels.registry import Provider

CONTENT_TYPE = "application/json; charset=utf-8"
ACK = orjson.dumps({"result": 0, "errmsg": "OK"})
_TRANSIENT_PREFIX = ("InternalError", "AuthFailure", "RequestLimitExceeded")


class Settings(HttpSettings):
    """A SecretId/SecretKey pair, the SMS app and an approved signature and template."""

    secret_id: str = Field(min_length=1)
    secret_key: str = Field(min_length=1)
    sdk_app_id: str = Field(min_length=1)
    sign_name: str = Field(min_length=1)
    template_id: str = Field(min_length=1)
    region: str = "ap-guangzhou"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def authorization(
    secret_id: str, secret_key: str, host: str, payload: bytes, timestamp: int
) -> str:
    """Return the TC3-HMAC-SHA256 Authorization header of a SendSms request."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical = (
        f"POST\n/\n\ncontent-type:{CONTENT_TYPE}\nhost:{host}\n\ncontent-type;host\n"
        + hashlib.sha256(payload).hexdigest()
    )
    scope = f"{date}/sms/tc3_request"
    to_sign = (
        f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n" + hashlib.sha256(canonical.encode()).hexdigest()
    )
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), "sms"), "tc3_request")
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, "
        f"SignedHeaders=content-type;host, Signature={sig}"
    )


class TencentChannel(HttpChannel):
    """One SendSms call per message (the API takes up to 200 numbers, all with one text)."""

    default_base_url = "https://sms.tencentcloudapi.com"

    async def submit(self, msg: OutboundMessage) -> SendResult:
        cfg = self.config
        payload = orjson.dumps(
            {
                "PhoneNumberSet": [to_e164(msg.to)],
                "SmsSdkAppId": str(cfg.get("sdk_app_id")),
                "SignName": str(cfg.get("sign_name")),
                "TemplateId": str(cfg.get("template_id")),
                "TemplateParamSet": [msg.text or ""],
                "SessionContext": msg.ref,
            }
        )
        url = f"{self.base_url}/"
        host = self.http.build_request("POST", url).url.netloc.decode()
        ts = int(now_utc().timestamp())
        headers = {
            "Content-Type": CONTENT_TYPE,
            "Host": host,
            "X-TC-Action": "SendSms",
            "X-TC-Version": "2021-01-11",
            "X-TC-Timestamp": str(ts),
            "X-TC-Region": str(cfg.get("region", "ap-guangzhou")),
            "Authorization": authorization(
                str(cfg.get("secret_id")), str(cfg.get("secret_key")), host, payload, ts
            ),
        }
        resp = await self.http.post(url, content=payload, headers=headers)
        body = (json_of(resp.content) or {}).get("Response") or {}
        if "Error" in body or resp.status_code != 200:
            err = body.get("Error") or {}
            return self._failure(msg.ref, str(err.get("Code") or f"HTTP{resp.status_code}"), err)
        (status,) = body.get("SendStatusSet") or [{}]
        code = str(status.get("Code") or "")
        if code == "Ok" and status.get("SerialNo"):
            return SendResult.submitted(msg.ref, [str(status["SerialNo"])])
        return self._failure(msg.ref, code or "NO_STATUS", status)

    @staticmethod
    def _failure(ref: str, code: str, detail: dict[str, object]) -> SendResult:
        text = str(detail.get("Message") or "")
        if code.startswith("LimitExceeded"):
            return SendResult.failed(
                ref, permanent=False, code=THROTTLED, message=f"{code}: {text}"
            )
        transient = code.startswith(_TRANSIENT_PREFIX) or code in (
            "FailedOperation.InsufficientBalanceInSmsPackage",
            "HTTP500",
            "HTTP502",
            "HTTP503",
        )
        return SendResult.failed(ref, permanent=not transient, code=code, message=text)


def handle_callback(cfg: ConnectorConfig, event: str, req: CallbackRequest) -> CallbackResult:
    """Map a status callback (array) or a reply callback (object)."""
    doc = json_of(req.body)
    if event == "inbound":
        if not isinstance(doc, dict):
            return CallbackResult(status_code=400, body=b"a JSON object is expected")
        nation = str(doc.get("nationcode") or "")
        inbound = Inbound(
            sender=nation + str(doc.get("mobile", "")),
            to=str(doc.get("extend") or ""),
            text=str(doc.get("text", "")),
            received_at=now_utc(),
            connector=cfg.name,
        )
        return CallbackResult([inbound], body=ACK, media_type="application/json")
    if not isinstance(doc, list):
        return CallbackResult(status_code=400, body=b"a JSON array is expected")
    receipts: list[Receipt | Inbound] = []
    for item in doc:
        if isinstance(item, dict) and item.get("sid"):
            ok = item.get("report_status") == "SUCCESS"
            receipts.append(
                Receipt(
                    str(item["sid"]),
                    "DELIVRD" if ok else "UNDELIV",
                    final=True,
                    error=None if ok else str(item.get("errmsg") or "") or None,
                    done_at=now_utc(),
                    connector=cfg.name,
                )
            )
    return CallbackResult(receipts, body=ACK, media_type="application/json")


def build(cfg: ConnectorConfig, on_report: ReportCallback | None) -> TencentChannel:
    """Return the channel of a Tencent Cloud SMS connector."""
    return TencentChannel(cfg, on_report)


PROVIDER = Provider(
    kind="tencent",
    channel="sms",
    settings=Settings,
    secrets=("secret_key",),
    build=build,
    callback=handle_callback,
)
