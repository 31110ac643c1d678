"""Alibaba Cloud Short Message Service (dysmsapi): SendSms RPC with signature v1, HTTP push.

Contract (https://www.alibabacloud.com/help/en/sms/signature-method,
the SendSms API reference (Version 2017-05-25), and
https://www.alibabacloud.com/help/doc-detail/409034.htm for the HTTP webhooks):

- send: ``POST {base}/`` form with the common parameters ``AccessKeyId``, ``Action=SendSms``,
  ``Format=JSON``, ``RegionId``, ``SignatureMethod=HMAC-SHA1``, ``SignatureNonce`` (unique per
  request), ``SignatureVersion=1.0``, ``Timestamp`` (UTC ``YYYY-MM-DDThh:mm:ssZ``),
  ``Version=2017-05-25``, and ``PhoneNumbers``, ``SignName``, ``TemplateCode``,
  ``TemplateParam`` (JSON), ``OutId`` (our ref).
- signature v1: sort every parameter but ``Signature`` by name, percent-encode names and values
  (RFC 3986: space ``%20``, ``*`` ``%2A``, ``~`` kept), join ``k=v`` with ``&``;
  StringToSign = ``POST&%2F&`` + percentEncode(that); Signature = Base64(HMAC-SHA1(
  AccessKeySecret + "&", StringToSign)).
- answer: ``{"Code": "OK", "BizId", "RequestId"}``; otherwise ``Code``: throttling
  (``isv.BUSINESS_LIMIT_CONTROL``, ``Throttling.User``, ``isv.DAY_LIMIT_CONTROL``), transient
  (``isp.*`` system errors, ``ServiceUnavailable``, ``isv.AMOUNT_NOT_ENOUGH``, signature and
  key problems), or permanent (``isv.MOBILE_NUMBER_ILLEGAL``, ``isv.BLACK_KEY_CONTROL_LIMIT``,
  ``isv.TEMPLATE_MISSING_PARAMETERS``, other ``isv.*``).
- SMS is template-based: the rendered text goes into ``TemplateParam`` under
  ``template_param`` (``{"content": "..."}``) of an approved template with that variable.
- HTTP push (configured in the console, not per request): ``SmsReport`` is a JSON array of
  ``{"phone_number", "success", "err_code", "err_msg", "biz_id", "out_id", "report_time"}``,
  ``SmsUp`` an array of ``{"phone_number", "content", "dest_code", "send_time"}``; both are
  answered ``{"code": 0, "msg": "成功"}`` (anything else makes Alibaba Cloud retry).
Alibaba Cloud does not sign these pushes; the connector's unguessable callback key does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Mapping
from urllib.parse import quote

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
)
from clarion.channels.registry import Provider

_THROTTLE = {"isv.BUSINESS_LIMIT_CONTROL", "Throttling.User", "isv.DAY_LIMIT_CONTROL", "Throttling"}
_TRANSIENT = {
    "isv.AMOUNT_NOT_ENOUGH",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId.NotFound",
    "SignatureNonceUsed",
    "InvalidTimeStamp.Expired",
    "ServiceUnavailable",
}
ACK = orjson.dumps({"code": 0, "msg": "成功"})


class Settings(HttpSettings):
    """An AccessKey pair, an approved signature name and template."""

    access_key_id: str = Field(min_length=1)
    access_key_secret: str = Field(min_length=1)
    sign_name: str = Field(min_length=1)
    template_code: str = Field(min_length=1)
    template_param: str = "content"
    region_id: str = "cn-hangzhou"


def percent_encode(value: str) -> str:
    """Percent-encode as the POP signature wants (RFC 3986 unreserved kept)."""
    return quote(value, safe="~")


def signature(params: Mapping[str, str], secret: str, method: str = "POST") -> str:
    """Return the v1 (HMAC-SHA1) signature of an RPC request."""
    canonical = "&".join(
        f"{percent_encode(k)}={percent_encode(params[k])}"
        for k in sorted(params)
        if k != "Signature"
    )
    to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"
    mac = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


class AliyunChannel(HttpChannel):
    """One SendSms call per message."""

    default_base_url = "https://dysmsapi.aliyuncs.com"

    async def submit(self, msg: OutboundMessage) -> SendResult:
        cfg = self.config
        params = {
            "AccessKeyId": str(cfg.get("access_key_id")),
            "Action": "SendSms",
            "Format": "JSON",
            "RegionId": str(cfg.get("region_id", "cn-hangzhou")),
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "Timestamp": now_utc().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
            "PhoneNumbers": msg.to.lstrip("+"),
            "SignName": str(cfg.get("sign_name")),
            "TemplateCode": str(cfg.get("template_code")),
            "TemplateParam": orjson.dumps(
                {str(cfg.get("template_param", "content")): msg.text or ""}
            ).decode(),
            "OutId": msg.ref,
        }
        params["Signature"] = signature(params, str(cfg.get("access_key_secret")))
        resp = await self.http.post(f"{self.base_url}/", data=params)
        body = json_of(resp.content) or {}
        code = str(body.get("Code") or f"HTTP{resp.status_code}")
        if code == "OK" and body.get("BizId"):
            return SendResult.submitted(msg.ref, [str(body["BizId"])])
        text = str(body.get("Message") or resp.reason_phrase)
        if code in _THROTTLE:
            return SendResult.failed(
                msg.ref, permanent=False, code=THROTTLED, message=f"{code}: {text}"
            )
        transient = code in _TRANSIENT or code.startswith("isp.") or resp.status_code >= 500
        return SendResult.failed(msg.ref, permanent=not transient, code=code, message=text)


def handle_callback(cfg: ConnectorConfig, event: str, req: CallbackRequest) -> CallbackResult:
    """Map an SmsReport or SmsUp push (a JSON array) to receipts or inbound messages."""
    doc = json_of(req.body)
    if not isinstance(doc, list):
        return CallbackResult(status_code=400, body=b"a JSON array is expected")
    reports: list[Receipt | Inbound] = []
    for item in doc:
        if not isinstance(item, dict):
            continue
        if event == "inbound":
            reports.append(
                Inbound(
                    sender=str(item.get("phone_number", "")),
                    to=str(item.get("dest_code", "")),
                    text=str(item.get("content", "")),
                    received_at=now_utc(),
                    connector=cfg.name,
                )
            )
        elif item.get("biz_id"):
            ok = item.get("success") in (True, "true")
            reports.append(
                Receipt(
                    str(item["biz_id"]),
                    "DELIVRD" if ok else "UNDELIV",
                    final=True,
                    error=None if ok else str(item.get("err_code") or "") or None,
                    done_at=now_utc(),
                    ref=str(item["out_id"]) if item.get("out_id") else None,
                    connector=cfg.name,
                )
            )
    return CallbackResult(list(reports), body=ACK, media_type="application/json")


def build(cfg: ConnectorConfig, on_report: ReportCallback | None) -> AliyunChannel:
    """Return the channel of an Alibaba Cloud SMS connector."""
    return AliyunChannel(cfg, on_report)


PROVIDER = Provider(
    kind="aliyun",
    channel="sms",
    settings=Settings,
    secrets=("access_key_secret",),
    build=build,
    callback=handle_callback,
)
