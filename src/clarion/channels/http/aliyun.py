"""Alibaba Cloud Short Message Service (dysmsapi): SendSms RPC signed V3 (or v1), HTTP push.

Contract (the SendSms API reference, Version 2017-05-25; "Request syntax and signature method
V3", https://www.alibabacloud.com/help/en/sdk/product-overview/v3-request-structure-and-signature;
the older v1, https://www.alibabacloud.com/help/en/sms/signature-method; and
https://www.alibabacloud.com/help/doc-detail/409034.htm for the HTTP webhooks):

- send: ``POST {base}/?PhoneNumbers=..&SignName=..&TemplateCode=..&TemplateParam=..&OutId=..``
  (SendSms's parameters are ``"in": "query"`` in its API metadata; the body is empty).
- signature V3 (the default; ``signature_version: v3``): headers ``host``, ``x-acs-action:
  SendSms``, ``x-acs-version: 2017-05-25``, ``x-acs-date`` (UTC ``yyyy-MM-ddTHH:mm:ssZ``, within
  15 minutes), ``x-acs-signature-nonce`` (unique per request) and ``x-acs-content-sha256``
  (lowercase hex SHA-256 of the body, the HashedRequestPayload). CanonicalRequest = method,
  CanonicalURI (``/`` for RPC), CanonicalQueryString (names sorted, names and values
  RFC 3986-encoded: space ``%20``, ``*`` ``%2A``, ``~`` kept), CanonicalHeaders (``host``,
  ``content-type`` and every ``x-acs-*`` header, lower-case names sorted, ``name:trimmed
  value\n`` each), SignedHeaders (those names joined by ``;``) and HashedRequestPayload, joined
  by newlines. StringToSign = ``ACS3-HMAC-SHA256\n`` + hex(SHA-256(CanonicalRequest));
  Signature = hex(HMAC-SHA256(AccessKeySecret, StringToSign)); ``Authorization:
  ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<...>,Signature=<...>``.
- signature v1 (``signature_version: v1``, for accounts or gateways that still want it): the
  common parameters ``AccessKeyId``, ``Action``, ``Format``, ``RegionId``,
  ``SignatureMethod=HMAC-SHA1``, ``SignatureNonce``, ``SignatureVersion=1.0``, ``Timestamp``,
  ``Version`` go in the form with the others; sort every parameter but ``Signature`` by name,
  percent-encode as above, join ``k=v`` with ``&``; StringToSign = ``POST&%2F&`` +
  percentEncode(that); Signature = Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign)).
- answer: ``{"Code": "OK", "BizId", "RequestId"}``; otherwise ``Code``: throttling
  (``isv.BUSINESS_LIMIT_CONTROL``, ``Throttling.User``, ``isv.DAY_LIMIT_CONTROL``), transient
  (``isp.*`` system errors, ``ServiceUnavailable``, ``isv.AMOUNT_NOT_ENOUGH``, signature and
  key problems such as ``SignatureDoesNotMatch``), or permanent (``isv.MOBILE_NUMBER_ILLEGAL``,
  ``isv.BLACK_KEY_CONTROL_LIMIT``, ``isv.TEMPLATE_MISSING_PARAMETERS``, other ``isv.*``).
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
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import quote

import httpx
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
    "IncompleteSignature",
    "InvalidAccessKeyId.NotFound",
    "SignatureNonceUsed",
    "InvalidTimeStamp.Expired",
    "ServiceUnavailable",
}
ACK = orjson.dumps({"code": 0, "msg": "成功"})
ACTION, VERSION = "SendSms", "2017-05-25"
ACS3 = "ACS3-HMAC-SHA256"


class Settings(HttpSettings):
    """An AccessKey pair, an approved signature name and template."""

    access_key_id: str = Field(min_length=1)
    access_key_secret: str = Field(min_length=1)
    sign_name: str = Field(min_length=1)
    template_code: str = Field(min_length=1)
    template_param: str = "content"
    region_id: str = "cn-hangzhou"
    #: "v3" (ACS3-HMAC-SHA256, Alibaba Cloud's current method) or "v1" (HMAC-SHA1 RPC).
    signature_version: Literal["v3", "v1"] = "v3"


def percent_encode(value: str) -> str:
    """Percent-encode as both signatures want (RFC 3986: unreserved ``A-Za-z0-9-_.~`` kept)."""
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


def canonical_query(params: Mapping[str, str]) -> str:
    """Return the V3 CanonicalQueryString (also what we send: the signed bytes are the sent)."""
    return "&".join(f"{percent_encode(k)}={percent_encode(params[k])}" for k in sorted(params))


def signed_header_names(headers: Mapping[str, str]) -> list[str]:
    """Return the lower-case names V3 signs: ``host``, ``content-type`` and ``x-acs-*``."""
    return sorted(
        n
        for n in (h.lower() for h in headers)
        if n in ("host", "content-type") or (n.startswith("x-acs-") and n != "authorization")
    )


@dataclass(frozen=True, slots=True)
class Acs3:
    """One V3 signature and what went into it (the fake server and tests compare the parts)."""

    canonical_request: str
    signed_headers: str
    signature: str

    def authorization(self, access_key_id: str) -> str:
        """Return the ``Authorization`` header value."""
        return (
            f"{ACS3} Credential={access_key_id},"
            f"SignedHeaders={self.signed_headers},Signature={self.signature}"
        )


def acs3_sign(
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    secret: str,
    names: list[str] | None = None,
) -> Acs3:
    """Sign a request the V3 way; ``headers`` must hold ``x-acs-content-sha256`` already.

    ``names`` (lower-case) picks the headers to sign; by default every one V3 wants signed.
    """
    lower = {k.lower(): str(v).strip() for k, v in headers.items()}
    names = names if names is not None else signed_header_names(lower)
    canonical_headers = "".join(f"{n}:{lower.get(n, '')}\n" for n in names)
    signed = ";".join(names)
    uri = "/".join(percent_encode(seg) for seg in (path or "/").split("/")) or "/"
    canonical = "\n".join(
        (
            method.upper(),
            uri,
            canonical_query(query),
            canonical_headers,
            signed,
            lower.get("x-acs-content-sha256", ""),
        )
    )
    to_sign = f"{ACS3}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    mac = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    return Acs3(canonical, signed, mac)


def acs3_headers(
    host: str,
    query: Mapping[str, str],
    key_id: str,
    secret: str,
    *,
    body: bytes = b"",
    at: datetime | None = None,
    nonce: str | None = None,
    action: str = ACTION,
    version: str = VERSION,
) -> dict[str, str]:
    """Return the headers of a V3-signed ``POST /`` RPC call, ``Authorization`` included."""
    headers = {
        "host": host,
        "x-acs-action": action,
        "x-acs-version": version,
        "x-acs-date": (at or now_utc()).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
    }
    signed = acs3_sign("POST", "/", query, headers, secret)
    headers["Authorization"] = signed.authorization(key_id)
    return headers


class AliyunChannel(HttpChannel):
    """One SendSms call per message."""

    default_base_url = "https://dysmsapi.aliyuncs.com"

    def _business(self, msg: OutboundMessage) -> dict[str, str]:
        cfg = self.config
        return {
            "PhoneNumbers": msg.to.lstrip("+"),
            "SignName": str(cfg.get("sign_name")),
            "TemplateCode": str(cfg.get("template_code")),
            "TemplateParam": orjson.dumps(
                {str(cfg.get("template_param", "content")): msg.text or ""}
            ).decode(),
            "OutId": msg.ref,
        }

    async def _post_v3(self, params: dict[str, str]) -> httpx.Response:
        cfg = self.config
        host = httpx.URL(self.base_url).netloc.decode()
        headers = acs3_headers(
            host, params, str(cfg.get("access_key_id")), str(cfg.get("access_key_secret"))
        )
        # The query is sent exactly as it was canonicalised, so what is signed is what is sent.
        return await self.http.post(f"{self.base_url}/?{canonical_query(params)}", headers=headers)

    async def _post_v1(self, params: dict[str, str]) -> httpx.Response:
        cfg = self.config
        params = {
            "AccessKeyId": str(cfg.get("access_key_id")),
            "Action": ACTION,
            "Format": "JSON",
            "RegionId": str(cfg.get("region_id", "cn-hangzhou")),
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "Timestamp": now_utc().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": VERSION,
            **params,
        }
        params["Signature"] = signature(params, str(cfg.get("access_key_secret")))
        return await self.http.post(f"{self.base_url}/", data=params)

    async def submit(self, msg: OutboundMessage) -> SendResult:
        params = self._business(msg)
        if str(self.config.get("signature_version", "v3")) == "v1":
            resp = await self._post_v1(params)
        else:
            resp = await self._post_v3(params)
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
