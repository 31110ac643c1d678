"""Local servers playing each provider's documented contract (see each class's docstring)."""

from __future__ import annotations

import itertools
import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

E164 = re.compile(r"^\+?[1-9]\d{6,14}$")


@dataclass
class Accepted:
    """One message a fake provider accepted."""

    provider_id: str
    to: str
    text: str
    callback: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class FakeProvider:
    """Shared bookkeeping: what was accepted, and a client to call Clarion back."""

    def __init__(self) -> None:
        self.accepted: list[Accepted] = []
        self.refused: list[tuple[str, str]] = []  # (to, code)
        self._ids = itertools.count(1)

    def next_id(self, prefix: str = "") -> str:
        return f"{prefix}{next(self._ids):08d}{secrets.token_hex(4)}"

    def by_to(self, to: str) -> Accepted:
        return next(a for a in self.accepted if a.to.lstrip("+") == to.lstrip("+"))

    @staticmethod
    def post(url: str, **kw: Any) -> httpx.Response:
        with httpx.Client(timeout=10) as c:
            return c.post(url, **kw)

    @staticmethod
    def get(url: str, **kw: Any) -> httpx.Response:
        with httpx.Client(timeout=10) as c:
            return c.get(url, **kw)


# Destinations that make every fake answer one error class.
INVALID = "+15005550001"  # permanent: the number is not valid
THROTTLE = "+15005550002"  # throttled
BROKEN = "+15005550003"  # the provider's server fails (transient)
SLOW = "+15005550004"  # the provider answers after 2 s (longer than a test's timeout)


async def form_of(request: Request) -> dict[str, str]:
    """Return the request's x-www-form-urlencoded parameters (query and body)."""
    from urllib.parse import parse_qsl

    body = (await request.body()).decode()
    return {**dict(request.query_params), **dict(parse_qsl(body, keep_blank_values=True))}


def _basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _error(http_status: int, **body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=http_status)


class FakeTwilio(FakeProvider):
    """Twilio's Messages resource: Basic auth by AccountSid/AuthToken, form parameters,
    201 + Message JSON or an error JSON {code, message, status}; callbacks signed with
    X-Twilio-Signature (HMAC-SHA1 over URL + sorted parameters, Base64)."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__()
        self.sid = account_sid
        self.token = auth_token

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/2010-04-01/Accounts/{sid}/Messages.json", self.create, methods=["POST"])
            ]
        )

    async def create(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if auth != _basic(self.sid, self.token) or request.path_params["sid"] != self.sid:
            return _error(401, code=20003, message="Authenticate", status=401)
        form = await form_of(request)
        to, body = str(form.get("To") or ""), str(form.get("Body") or "")
        sender = form.get("From") or form.get("MessagingServiceSid")
        if not body:
            return _error(400, code=21602, message="Message body is required.", status=400)
        if not sender:
            return _error(400, code=21603, message="'From' phone number is required.", status=400)
        if not to.startswith("+") or not E164.match(to) or to == INVALID:
            self.refused.append((to, "21211"))
            return _error(
                400, code=21211, message=f"The 'To' number {to} is not valid.", status=400
            )
        if to == THROTTLE:
            return _error(429, code=20429, message="Too Many Requests", status=429)
        if to == BROKEN:
            return _error(500, code=20500, message="Internal Server Error", status=500)
        if to == SLOW:
            import asyncio

            await asyncio.sleep(2)
        validity = form.get("ValidityPeriod")
        if validity is not None and not 1 <= int(str(validity)) <= 36000:
            return _error(400, code=21623, message="ValidityPeriod out of range", status=400)
        sid = "SM" + secrets.token_hex(16)
        callback = form.get("StatusCallback")
        self.accepted.append(Accepted(sid, to, body, str(callback) if callback else None))
        return JSONResponse(
            {"sid": sid, "status": "queued", "num_segments": "1", "to": to, "body": body},
            status_code=201,
        )

    def sign(self, url: str, params: dict[str, str]) -> str:
        import base64
        import hashlib
        import hmac

        payload = url + "".join(f"{k}{params[k]}" for k in sorted(params))
        return base64.b64encode(
            hmac.new(self.token.encode(), payload.encode(), hashlib.sha1).digest()
        ).decode()

    def report(
        self, acc: Accepted, status: str, error: str | None = None, *, tamper: bool = False
    ) -> httpx.Response:
        assert acc.callback, "the message was sent without a StatusCallback"
        params = {
            "AccountSid": self.sid,
            "MessageSid": acc.provider_id,
            "MessageStatus": status,
            "To": acc.to,
        }
        if error:
            params["ErrorCode"] = error
        sig = self.sign(acc.callback, params)
        if tamper:
            params["MessageStatus"] = "delivered"
        return self.post(acc.callback, data=params, headers={"X-Twilio-Signature": sig})

    def inbound(self, url: str, sender: str, to: str, text: str) -> httpx.Response:
        params = {
            "MessageSid": "SM" + secrets.token_hex(16),
            "From": sender,
            "To": to,
            "Body": text,
            "NumSegments": "1",
            "AccountSid": self.sid,
        }
        return self.post(url, data=params, headers={"X-Twilio-Signature": self.sign(url, params)})


class Fake(FakeProvider):
    """Common shape of the fakes used by the generic contract tests."""

    kind = ""
    #: How each error class must come out: (ok, permanent, code) for INVALID, THROTTLE, BROKEN.
    expected: ClassVar[dict[str, tuple[bool, bool, str | None]]] = {}
    status_url = ""  # console-configured callback URLs (providers that do not take one per send)
    inbound_url = ""

    def app(self) -> Starlette:
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        raise NotImplementedError

    def report(self, acc: Accepted, delivered: bool, *, tamper: bool = False) -> httpx.Response:
        raise NotImplementedError

    def inbound(self, sender: str, to: str, text: str) -> httpx.Response:
        raise NotImplementedError


class FakeKannel(Fake):
    """Kannel's smsbox sendsms CGI: credentials of a sendsms-user, text answers with HTTP
    202/4xx/503, DLRs fetched by GET from dlr-url with %d and %A expanded."""

    kind = "kannel"
    expected: ClassVar[dict[str, tuple[bool, bool, str | None]]] = {
        "invalid": (False, True, "HTTP400"),
        "throttle": (True, False, None),  # Kannel queues: "3: Queued for later delivery"
        "broken": (False, False, "HTTP503"),
    }

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/cgi-bin/sendsms", self.sendsms, methods=["GET"])])

    def settings(self) -> dict[str, Any]:
        return {"username": "tester", "password": "foobar"}

    async def sendsms(self, request: Request) -> Response:
        q = request.query_params
        if q.get("username") != "tester" or q.get("password") != "foobar":
            return Response("Authorization failed for sendsms", status_code=403)
        to, text = q.get("to", ""), q.get("text")
        if not to:
            return Response("Missing receiver number", status_code=400)
        if text is None:
            return Response("Missing text", status_code=400)
        if q.get("coding") not in (None, "0", "1", "2") or q.get("charset") != "UTF-8":
            return Response("Invalid coding or charset", status_code=400)
        if not E164.match(to) or "+" + to == INVALID:
            return Response("Number(s) has/have been denied by white- and/or black-lists.", 400)
        if "+" + to == BROKEN:
            return Response("Sending failed.", status_code=503)
        mask, url = q.get("dlr-mask"), q.get("dlr-url")
        if url and not mask:
            return Response("dlr-url without dlr-mask", status_code=400)
        self.accepted.append(Accepted(self.next_id(), to, text, url, {"mask": mask}))
        if "+" + to == THROTTLE:
            return Response("3: Queued for later delivery", status_code=202)
        return Response("0: Accepted for delivery", status_code=202)

    def report(self, acc: Accepted, delivered: bool, *, tamper: bool = False) -> httpx.Response:
        assert acc.callback and int(acc.extra["mask"]) & 3 == 3
        stat = "DELIVRD" if delivered else "UNDELIV"
        err = "000" if delivered else "034"
        text = f"id:{acc.provider_id} sub:001 dlvrd:001 stat:{stat} err:{err}"
        url = acc.callback.replace("%d", "1" if delivered else "2").replace(
            "%A", text.replace(" ", "+")
        )
        return self.get(url)

    def inbound(self, sender: str, to: str, text: str) -> httpx.Response:
        return self.get(self.inbound_url, params={"from": sender, "to": to, "text": text})


class FakeJasmin(Fake):
    """Jasmin's HTTP API /send: form credentials, ``Success "<id>"`` or ``Error "..."`` with
    400/403/412/500, DLRs POSTed to dlr-url and MO to the HTTP connector, both expecting
    ``ACK/Jasmin``."""

    kind = "jasmin"
    expected: ClassVar[dict[str, tuple[bool, bool, str | None]]] = {
        "invalid": (False, True, "HTTP412"),
        "throttle": (False, False, "HTTP403"),
        "broken": (False, False, "HTTP500"),
    }

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/send", self.send, methods=["GET", "POST"])])

    def settings(self) -> dict[str, Any]:
        return {"username": "foo", "password": "bar"}

    async def send(self, request: Request) -> Response:
        f = await form_of(request)
        for arg in ("username", "password", "to", "content"):
            if arg not in f:
                return Response(f'Error "Mandatory argument [{arg}] is not found."', 400)
        if (f["username"], f["password"]) != ("foo", "bar"):
            return Response(f'Error "Authentication failure for username:{f["username"]}"', 403)
        if not re.fullmatch(r"\+?\d+", f["to"]):
            return Response(f'Error "Argument [to] has an invalid value: [{f["to"]}]."', 400)
        if f.get("dlr") == "yes" and (not f.get("dlr-url") or f.get("dlr-level") not in "123"):
            return Response('Error "Argument [dlr-url] is mandatory if [dlr] is set to yes."', 400)
        to = "+" + f["to"].lstrip("+")
        if to == INVALID:
            return Response('Error "No route found"', 412)
        if to == THROTTLE:
            return Response('Error "User throughput exceeded"', 403)
        if to == BROKEN:
            return Response('Error "Cannot send submit_sm, check SMPPClientManagerPB log"', 500)
        mid = str(uuid.uuid4())
        self.accepted.append(Accepted(mid, f["to"], f["content"], f.get("dlr-url")))
        return Response(f'Success "{mid}"')

    def report(self, acc: Accepted, delivered: bool, *, tamper: bool = False) -> httpx.Response:
        assert acc.callback
        data = {
            "id": acc.provider_id,
            "message_status": "DELIVRD" if delivered else "UNDELIV",
            "level": "2",
            "connector": "smsc1",
            "err": "000" if delivered else "001",
            "donedate": "2601011200",
        }
        resp = self.post(acc.callback, data=data)
        assert resp.status_code != 200 or resp.text == "ACK/Jasmin"
        return resp

    def inbound(self, sender: str, to: str, text: str) -> httpx.Response:
        data = {
            "id": str(uuid.uuid4()),
            "from": sender,
            "to": to,
            "content": text,
            "coding": "0",
            "origin-connector": "smsc1",
            "priority": "0",
            "validity": "none",
        }
        resp = self.post(self.inbound_url, data=data)
        assert resp.text == "ACK/Jasmin"
        return resp


class FakeVonage(Fake):
    """Vonage's /sms/json with signed requests: the sig is checked with the account's
    signature secret and method, the answer lists a status per part; DLR and inbound webhooks
    are signed the same way."""

    kind = "vonage"
    expected: ClassVar[dict[str, tuple[bool, bool, str | None]]] = {
        "invalid": (False, True, "3"),
        "throttle": (False, False, "THROTTLED"),
        "broken": (False, False, "5"),
    }
    SECRET = "vonage-signature-secret"

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/sms/json", self.send, methods=["POST"])])

    def settings(self) -> dict[str, Any]:
        return {
            "api_key": "abcd1234",
            "signature_secret": self.SECRET,
            "signature_method": "sha256",
            "verify_signatures": True,
        }

    def sig(self, params: dict[str, str]) -> str:
        import hashlib
        import hmac

        joined = "".join(
            "&" + k + "=" + re.sub(r"[&=]", "_", params[k]) for k in sorted(params) if k != "sig"
        )
        return hmac.new(self.SECRET.encode(), joined.encode(), hashlib.sha256).hexdigest().upper()

    def _answer(self, status: str, text: str = "", to: str = "") -> JSONResponse:
        return JSONResponse(
            {"message-count": "1", "messages": [{"to": to, "status": status, "error-text": text}]}
        )

    async def send(self, request: Request) -> Response:
        f = await form_of(request)
        if f.get("api_key") != "abcd1234":
            return self._answer("4", "Bad Credentials")
        if "api_secret" in f and "sig" in f:
            return self._answer("32", "Signature And API Secret Disallowed")
        import time

        if f.get("sig") != self.sig(f) or abs(int(f.get("timestamp", "0")) - time.time()) > 300:
            return self._answer("14", "Invalid Signature")
        for arg in ("from", "to", "text"):
            if not f.get(arg):
                return self._answer("2", f"Missing {arg}")
        to = f["to"]
        if to.startswith("+") or "+" + to == INVALID:
            return self._answer("3", "Invalid to address", to)
        if "+" + to == THROTTLE:
            return self._answer("1", "Throughput Rate Exceeded", to)
        if "+" + to == BROKEN:
            return self._answer("5", "Internal Error", to)
        mid = self.next_id("MSG")
        self.accepted.append(
            Accepted(mid, to, f["text"], f.get("callback"), {"ref": f.get("client-ref")})
        )
        return JSONResponse(
            {
                "message-count": "1",
                "messages": [
                    {
                        "to": to,
                        "message-id": mid,
                        "status": "0",
                        "remaining-balance": "3.14",
                        "message-price": "0.03",
                        "network": "12345",
                    }
                ],
            }
        )

    def _signed(self, params: dict[str, str]) -> dict[str, str]:
        import time

        params = {**params, "timestamp": str(int(time.time())), "nonce": secrets.token_hex(8)}
        return {**params, "sig": self.sig(params)}

    def report(self, acc: Accepted, delivered: bool, *, tamper: bool = False) -> httpx.Response:
        assert acc.callback
        params = self._signed(
            {
                "msisdn": acc.to,
                "to": "AcmeInc",
                "network-code": "12345",
                "messageId": acc.provider_id,
                "price": "0.03",
                "status": "delivered" if delivered else "failed",
                "err-code": "0" if delivered else "6",
                "client-ref": str(acc.extra.get("ref")),
                "api-key": "abcd1234",
            }
        )
        if tamper:
            params["status"] = "delivered"
        return self.post(acc.callback, json=params)

    def inbound(self, sender: str, to: str, text: str) -> httpx.Response:
        params = self._signed(
            {
                "msisdn": sender,
                "to": to,
                "messageId": self.next_id("IN"),
                "text": text,
                "type": "text",
                "keyword": text.split()[0].upper(),
                "api-key": "abcd1234",
            }
        )
        return self.get(self.inbound_url, params=params)


class FakeAliyun(Fake):
    """Alibaba Cloud's dysmsapi SendSms RPC. Signature V3 (``Authorization: ACS3-HMAC-SHA256``):
    the canonical request is rebuilt from the raw request as received (method, path, the query
    string parsed and re-encoded, the signed headers' received values, the body's SHA-256,
    which must equal ``x-acs-content-sha256``) and the HMAC-SHA256 recomputed, independently
    of Clarion's signer; a mismatch is refused ``SignatureDoesNotMatch``. Signature v1 (no
    Authorization header): the HMAC-SHA1 over the canonical query is recomputed. Both: nonces
    may not repeat, timestamps must be fresh; answers Code/BizId; SmsReport and SmsUp are
    pushed as JSON arrays."""

    kind = "aliyun"
    expected: ClassVar[dict[str, tuple[bool, bool, str | None]]] = {
        "invalid": (False, True, "isv.MOBILE_NUMBER_ILLEGAL"),
        "throttle": (False, False, "THROTTLED"),
        "broken": (False, False, "isp.SYSTEM_ERROR"),
    }
    KEY_ID, SECRET = "LTAI5tTestKey", "aliyun-access-key-secret"
    V1_COMMON = (
        "AccessKeyId",
        "Action",
        "Format",
        "SignatureMethod",
        "SignatureNonce",
        "SignatureVersion",
        "Timestamp",
        "Version",
        "Signature",
    )

    def __init__(self) -> None:
        super().__init__()
        self.nonces: set[str] = set()

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/", self.rpc, methods=["GET", "POST"])])

    def settings(self) -> dict[str, Any]:
        return {
            "access_key_id": self.KEY_ID,
            "access_key_secret": self.SECRET,
            "sign_name": "Acme",
            "template_code": "SMS_153055065",
        }

    @staticmethod
    def _enc(v: str) -> str:
        from urllib.parse import quote

        return quote(v, safe="-_.~")

    def _sign(self, method: str, params: dict[str, str]) -> str:
        import base64
        import hashlib
        import hmac

        enc = self._enc
        canon = "&".join(f"{enc(k)}={enc(params[k])}" for k in sorted(params) if k != "Signature")
        sts = method + "&" + enc("/") + "&" + enc(canon)
        digest = hmac.new((self.SECRET + "&").encode(), sts.encode(), hashlib.sha1).digest()
        return base64.b64encode(digest).decode()

    @staticmethod
    def _refuse(status: int, code: str, message: str) -> JSONResponse:
        return _error(status, Code=code, Message=message, RequestId=str(uuid.uuid4()).upper())

    def _fresh(self, nonce: str, stamp: str) -> JSONResponse | None:
        """Refuse a nonce seen before or a timestamp more than 15 minutes off."""
        from datetime import UTC, datetime

        if nonce in self.nonces:
            return self._refuse(
                400, "SignatureNonceUsed", "Specified signature nonce was used already."
            )
        self.nonces.add(nonce)
        try:
            at = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return self._refuse(400, "InvalidTimeStamp.Format", "Specified time stamp is invalid.")
        if abs((datetime.now(UTC) - at).total_seconds()) > 900:
            return self._refuse(400, "InvalidTimeStamp.Expired", "Specified time stamp expired.")
        return None

    async def _check_v3(self, request: Request) -> tuple[JSONResponse | None, dict[str, str]]:
        """Verify an ACS3-HMAC-SHA256 request from its raw parts; return (refusal, params)."""
        import hashlib
        import hmac
        from urllib.parse import parse_qsl

        body = await request.body()
        auth = request.headers["authorization"]
        m = re.fullmatch(
            r"ACS3-HMAC-SHA256 Credential=([^,]+),"
            r"SignedHeaders=([a-z0-9;-]+),Signature=([0-9a-f]{64})",
            auth,
        )
        incomplete = "The request signature does not conform to Aliyun standards."
        if m is None:
            return self._refuse(400, "IncompleteSignature", incomplete), {}
        key_id, signed, given = m.groups()
        names = signed.split(";")
        h = request.headers
        needed = ["x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce"]
        needed.append("x-acs-content-sha256")
        missing = [n for n in needed if not h.get(n)]
        if missing:
            return self._refuse(400, "MissingParameter", f"{missing[0]} is mandatory"), {}
        # Every common header must be signed: an unsigned one could be changed on the way.
        must = {"host", *(n for n in h if n.startswith("x-acs-"))}
        if "content-type" in h:
            must.add("content-type")
        if names != sorted(names) or not must <= set(names):
            return self._refuse(400, "IncompleteSignature", incomplete), {}
        if key_id != self.KEY_ID:
            return self._refuse(
                404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."
            ), {}
        mismatch = "Specified signature does not match our calculation."
        if h["x-acs-content-sha256"] != hashlib.sha256(body).hexdigest():
            return self._refuse(400, "SignatureDoesNotMatch", mismatch), {}
        query = parse_qsl(request.url.query, keep_blank_values=True)
        enc = self._enc
        canonical = "\n".join(
            [
                request.method,
                "/".join(enc(seg) for seg in request.url.path.split("/")) or "/",
                "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(query)),
                "".join(f"{n}:{h.get(n, '').strip()}\n" for n in names),
                signed,
                h["x-acs-content-sha256"],
            ]
        )
        to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
        want = hmac.new(self.SECRET.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, given):
            return self._refuse(400, "SignatureDoesNotMatch", mismatch), {}
        refused = self._fresh(h["x-acs-signature-nonce"], h["x-acs-date"])
        if refused is not None:
            return refused, {}
        if (h["x-acs-action"], h["x-acs-version"]) != ("SendSms", "2017-05-25"):
            return self._refuse(400, "InvalidAction.NotFound", "action not found"), {}
        return None, await form_of(request)

    async def _check_v1(self, request: Request) -> tuple[JSONResponse | None, dict[str, str]]:
        p = await form_of(request)
        missing = [k for k in self.V1_COMMON if not p.get(k)]
        if missing:
            return self._refuse(400, "MissingParameter", f"{missing[0]} is mandatory"), {}
        if p["AccessKeyId"] != self.KEY_ID:
            return self._refuse(
                404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."
            ), {}
        if p["Signature"] != self._sign(request.method, p):
            return self._refuse(
                400, "SignatureDoesNotMatch", "Specified signature is not matched."
            ), {}
        refused = self._fresh(p["SignatureNonce"], p["Timestamp"])
        if refused is not None:
            return refused, {}
        if (p["Action"], p["Version"]) != ("SendSms", "2017-05-25"):
            return self._refuse(400, "InvalidAction.NotFound", "action not found"), {}
        return None, p

    async def rpc(self, request: Request) -> Response:
        v3 = "authorization" in request.headers
        refused, p = await (self._check_v3(request) if v3 else self._check_v1(request))
        import json

        if refused is not None:
            code = json.loads(bytes(refused.body))["Code"]
            self.refused.append((request.query_params.get("PhoneNumbers", ""), code))
            return refused

        params = json.loads(p.get("TemplateParam") or "{}")
        if p.get("TemplateCode") != "SMS_153055065" or "content" not in params:
            return JSONResponse(
                {"Code": "isv.TEMPLATE_MISSING_PARAMETERS", "Message": "模板缺少变量"}
            )
        to = "+" + p.get("PhoneNumbers", "")
        if to == INVALID or not E164.match(to):
            return JSONResponse(
                {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号", "RequestId": "r1"}
            )
        if to == THROTTLE:
            return JSONResponse(
                {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "业务限流", "RequestId": "r2"}
            )
        if to == BROKEN:
            return JSONResponse(
                {"Code": "isp.SYSTEM_ERROR", "Message": "系统错误", "RequestId": "r3"}
            )
        biz = f"{next(self._ids)}^0"
        self.accepted.append(
            Accepted(
                biz,
                p["PhoneNumbers"],
                params["content"],
                None,
                {"out": p.get("OutId"), "signature": "v3" if v3 else "v1"},
            )
        )
        return JSONResponse({"Code": "OK", "Message": "OK", "BizId": biz, "RequestId": "r0"})

    def report(self, acc: Accepted, delivered: bool, *, tamper: bool = False) -> httpx.Response:
        row = {
            "phone_number": acc.to,
            "send_time": "2026-11-22 10:00:00",
            "report_time": "2026-11-22 10:00:05",
            "success": delivered,
            "err_code": "DELIVERED" if delivered else "MK:0001",
            "err_msg": "用户接收成功" if delivered else "失败",
            "sms_size": "1",
            "biz_id": acc.provider_id,
            "out_id": acc.extra.get("out"),
        }
        resp = self.post(self.status_url, json=[row])
        assert resp.status_code != 200 or resp.json() == {"code": 0, "msg": "成功"}
        return resp

    def inbound(self, sender: str, to: str, text: str) -> httpx.Response:
        row = {
            "phone_number": sender.lstrip("+"),
            "send_time": "2026-11-22 10:00:00",
            "content": text,
            "sign_name": "Acme",
            "dest_code": to,
            "sequence_id": 1,
        }
        return self.post(self.inbound_url, json=[row])


class FakeTencent(Fake):
    """Tencent Cloud's SendSms (API 3.0): the TC3-HMAC-SHA256 Authorization is recomputed
    from the received Host, headers and body; per-number status codes in SendStatusSet;
    request errors under Response.Error; status and reply callbacks as JSON."""

    kind = "tencent"
    expected: ClassVar[dict[str, tuple[bool, bool, str | None]]] = {
        "invalid": (False, True, "InvalidParameterValue.IncorrectPhoneNumber"),
        "throttle": (False, False, "THROTTLED"),
        "broken": (False, False, "InternalError.Timeout"),
    }
    SECRET_ID, SECRET_KEY = (
        "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
        "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
    )

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/", self.api, methods=["POST"])])

    def settings(self) -> dict[str, Any]:
        return {
            "secret_id": self.SECRET_ID,
            "secret_key": self.SECRET_KEY,
            "sdk_app_id": "1400006666",
            "sign_name": "Acme",
            "template_id": "449739",
        }

    def _auth(self, host: str, ctype: str, body: bytes, ts: str) -> str:
        import hashlib
        import hmac
        from datetime import UTC, datetime

        date = datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%d")
        creq = "\n".join(
            [
                "POST",
                "/",
                "",
                f"content-type:{ctype}",
                f"host:{host}",
                "",
                "content-type;host",
                hashlib.sha256(body).hexdigest(),
            ]
        )
        sts = "\n".join(
            [
                "TC3-HMAC-SHA256",
                ts,
                f"{date}/sms/tc3_request",
                hashlib.sha256(creq.encode()).hexdigest(),
            ]
        )

        def h(key: bytes, msg: str) -> bytes:
            return hmac.new(key, msg.encode(), hashlib.sha256).digest()

        k = h(h(h(("TC3" + self.SECRET_KEY).encode(), date), "sms"), "tc3_request")
        sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
        return (
            f"TC3-HMAC-SHA256 Credential={self.SECRET_ID}/{date}/sms/tc3_request, "
            f"SignedHeaders=content-type;host, Signature={sig}"
        )

    def _err(self, code: str, message: str) -> JSONResponse:
        return JSONResponse(
            {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "x"}}
        )

    async def api(self, request: Request) -> Response:
        import json
        import time

        h = request.headers
        body = await request.body()
        if (h.get("x-tc-action"), h.get("x-tc-version")) != ("SendSms", "2021-01-11"):
            return self._err("InvalidAction", "action or version not supported")
        ts = h.get("x-tc-timestamp", "0")
        if abs(int(ts) - time.time()) > 300:
            return self._err("AuthFailure.SignatureExpire", "Signature expired")
        if h.get("authorization") != self._auth(
            h.get("host", ""), h.get("content-type", ""), body, ts
        ):
            return self._err(
                "AuthFailure.SignatureFailure", "The provided credentials could not be validated."
            )
        doc = json.loads(body)
        if doc.get("SmsSdkAppId") != "1400006666" or not doc.get("TemplateParamSet"):
            return self._err("InvalidParameterValue.TemplateParameterFormatError", "bad params")
        (to,) = doc["PhoneNumberSet"]
        if to == BROKEN:
            return self._err("InternalError.Timeout", "request timed out")
        code, msg = "Ok", "send success"
        if to == INVALID or not E164.match(to):
            code, msg = "InvalidParameterValue.IncorrectPhoneNumber", "incorrect phone number"
        elif to == THROTTLE:
            code, msg = "LimitExceeded.PhoneNumberThirtySecondLimit", "30 s limit"
        serial = self.next_id("2645:") if code == "Ok" else ""
        if code == "Ok":
            self.accepted.append(Accepted(serial, to, doc["TemplateParamSet"][0]))
        status = {
            "SerialNo": serial,
            "PhoneNumber": to,
            "Fee": 1 if code == "Ok" else 0,
            "SessionContext": doc.get("SessionContext", ""),
            "Code": code,
            "Message": msg,
            "IsoCode": "US",
        }
        return JSONResponse({"Response": {"SendStatusSet": [status], "RequestId": "r"}})

    def report(self, acc: Accepted, delivered: bool, *, tamper: bool = False) -> httpx.Response:
        row = {
            "user_receive_time": "2026-11-22 10:00:04",
            "nationcode": "1",
            "mobile": acc.to.lstrip("+1"),
            "report_status": "SUCCESS" if delivered else "FAIL",
            "errmsg": "DELIVRD" if delivered else "UNDELIV",
            "description": "ok" if delivered else "failed",
            "sid": acc.provider_id,
        }
        resp = self.post(self.status_url, json=[row])
        assert resp.status_code != 200 or resp.json() == {"result": 0, "errmsg": "OK"}
        return resp

    def inbound(self, sender: str, to: str, text: str) -> httpx.Response:
        doc = {
            "extend": to,
            "mobile": sender.lstrip("+")[1:],
            "nationcode": sender.lstrip("+")[:1],
            "sign": "Acme",
            "text": text,
            "time": 1763800000,
        }
        return self.post(self.inbound_url, json=doc)


class FakeEngagelab(Fake):
    """EngageLab's /v1/messages: Basic auth by dev_key/dev_secret, JSON template params; HTTP
    error statuses with {code, message}; callbacks signed in X-CALLBACK-ID."""

    kind = "engagelab"
    expected: ClassVar[dict[str, tuple[bool, bool, str | None]]] = {
        "invalid": (False, True, "4001"),
        "throttle": (False, False, "THROTTLED"),
        "broken": (False, False, "5000"),
    }
    USER, SECRET = "clarion-cb", "engagelab-callback-secret"

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/messages", self.send, methods=["POST"])])

    def settings(self) -> dict[str, Any]:
        return {
            "dev_key": "devkey1",
            "dev_secret": "devsecret1",
            "template_id": "1233",
            "callback_username": self.USER,
            "callback_secret": self.SECRET,
        }

    async def send(self, request: Request) -> Response:
        import json

        if request.headers.get("authorization") != _basic("devkey1", "devsecret1"):
            return _error(401, code=3001, message="authentication failed")
        doc = json.loads(await request.body())
        tmpl = doc.get("template") or {}
        if (
            not doc.get("to")
            or tmpl.get("id") != "1233"
            or "content" not in (tmpl.get("params") or {})
        ):
            return _error(400, code=4001, message="invalid parameters")
        (to,) = doc["to"]
        if "+" + to == INVALID or not E164.match(to):
            return _error(400, code=4001, message="invalid target number")
        if "+" + to == THROTTLE:
            return _error(429, code=4290, message="too many requests")
        if "+" + to == BROKEN:
            return _error(500, code=5000, message="internal error")
        mid = self.next_id()
        self.accepted.append(Accepted(mid, to, tmpl["params"]["content"]))
        return JSONResponse(
            {"plan_id": "p1", "total_count": 1, "accepted_count": 1, "message_id": mid}
        )

    def _headers(self, tamper: bool) -> dict[str, str]:
        import hashlib
        import hmac
        import time

        ts, nonce = str(int(time.time())), secrets.token_hex(6)
        sig = hmac.new(
            self.SECRET.encode(), f"{ts}{nonce}{self.USER}".encode(), hashlib.sha256
        ).hexdigest()
        if tamper:
            sig = sig[::-1]
        return {
            "X-CALLBACK-ID": f"timestamp={ts};nonce={nonce};username={self.USER};signature={sig}"
        }

    def report(self, acc: Accepted, delivered: bool, *, tamper: bool = False) -> httpx.Response:
        row = {
            "message_id": acc.provider_id,
            "to": acc.to,
            "server": "sms",
            "channel": "sms",
            "itime": 1763800000,
            "custom_args": {},
            "status": {
                "message_status": "delivered" if delivered else "delivered_failed",
                "status_data": {},
                "error_code": 0 if delivered else 4004,
            },
        }
        return self.post(
            self.status_url, json={"total": 1, "rows": [row]}, headers=self._headers(tamper)
        )

    def inbound(self, sender: str, to: str, text: str) -> httpx.Response:
        row = {
            "message_id": self.next_id(),
            "server": "sms",
            "itime": 1763800000,
            "response": {
                "event": "uplink_message",
                "response_data": {"from": sender, "to": to, "content": text},
            },
        }
        return self.post(
            self.inbound_url, json={"total": 1, "rows": [row]}, headers=self._headers(False)
        )


ALL: list[type[Fake]] = [FakeKannel, FakeJasmin, FakeVonage, FakeAliyun, FakeTencent, FakeEngagelab]
