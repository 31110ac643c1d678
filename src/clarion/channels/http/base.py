"""What every HTTP provider shares: a pooled httpx client, bounded concurrency, outcome mapping.

A provider module implements :meth:`HttpChannel.submit` (one message -> one request -> one
:class:`SendResult`) and a callback parser; this base turns a batch into concurrent requests
(at most ``concurrency`` in flight on one connection pool, so a provider's per-account limits and
our sockets both hold) and maps transport failures the same way for all providers:

- could not connect / TLS failed before the request left: ``transient`` (nothing was sent);
- timed out or the connection broke after the request was written: ``uncertain`` (the provider
  may have accepted it; the dispatcher's uncertain policy decides whether to resend);
- HTTP 429 and 5xx without a provider error body: ``transient`` / throttled.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from clarion.channels.base import OutboundMessage, Report, ReportCallback, SendResult
from clarion.channels.config import ConnectorConfig

#: Code a result carries when the provider throttled us; the worker treats it as "throttled".
THROTTLED = "THROTTLED"


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """A provider's HTTP call to one of our callback endpoints, as the provider made it."""

    method: str
    url: str  # the full URL the provider called (what signatures cover)
    headers: Mapping[str, str]  # lower-case names
    query: Mapping[str, str]
    form: Mapping[str, str]
    body: bytes = b""

    def params(self) -> dict[str, str]:
        """Return query and form parameters together (providers use GET or POST)."""
        return {**self.query, **self.form}


@dataclass(slots=True)
class CallbackResult:
    """What a callback carried, and what to answer the provider."""

    reports: list[Report] = field(default_factory=list)
    status_code: int = 200
    body: bytes = b""
    media_type: str = "text/plain"


class SignatureError(Exception):
    """A callback whose signature does not verify; answered 403 and ignored."""


def basic_auth(user: str, password: str) -> str:
    """Return an ``Authorization: Basic`` header value (RFC 7617)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def now_utc() -> datetime:
    """Return the current time, aware UTC."""
    return datetime.now(UTC)


class HttpChannel:
    """Base of the HTTP SMS channels: open a client, send a batch concurrently, close."""

    #: Settings every HTTP connector accepts (besides its provider's own).
    default_base_url = ""

    def __init__(self, config: ConnectorConfig, on_report: ReportCallback | None = None) -> None:
        self.config = config
        self.on_report = on_report
        self.base_url = str(config.get("base_url") or self.default_base_url).rstrip("/")
        self.concurrency = int(config.get("concurrency", 16))
        self.timeout = float(config.get("timeout_s", 10.0))
        self.client: httpx.AsyncClient | None = None

    async def open(self) -> None:
        """Create the pooled client (connections are made on first use)."""
        if self.client is None:
            self.client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0)),
                limits=httpx.Limits(
                    max_connections=self.concurrency, max_keepalive_connections=self.concurrency
                ),
            )

    async def close(self) -> None:
        """Close the pool; requests in flight have already returned (send awaits them)."""
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        """Send every message of ``batch``, at most ``concurrency`` at a time, in order."""
        if self.client is None:
            await self.open()
        gate = asyncio.Semaphore(self.concurrency)

        async def one(msg: OutboundMessage) -> SendResult:
            async with gate:
                if not msg.text:
                    return SendResult.failed(
                        msg.ref, permanent=True, code="NO_TEXT", message="HTTP providers send text"
                    )
                try:
                    return await self.submit(msg)
                except (httpx.ConnectError, httpx.WriteError) as exc:  # nothing reached them
                    return SendResult.failed(
                        msg.ref, permanent=False, code="CONNECT", message=str(exc)
                    )
                except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                    if isinstance(exc, httpx.ConnectTimeout):
                        return SendResult.failed(
                            msg.ref, permanent=False, code="CONNECT", message=str(exc)
                        )
                    return SendResult.failed(
                        msg.ref,
                        permanent=False,
                        code="TIMEOUT",
                        message=f"{type(exc).__name__}: {exc}",
                        uncertain=True,
                    )
                except httpx.TransportError as exc:  # anything else on the wire: may have arrived
                    return SendResult.failed(
                        msg.ref, permanent=False, code="TRANSPORT", message=str(exc), uncertain=True
                    )

        return list(await asyncio.gather(*(one(m) for m in batch)))

    async def submit(self, msg: OutboundMessage) -> SendResult:
        """Send one message; provider modules implement this."""
        raise NotImplementedError

    @property
    def http(self) -> httpx.AsyncClient:
        """Return the open client."""
        if self.client is None:
            raise RuntimeError(f"connector {self.config.name} is not open")
        return self.client


def http_failure(ref: str, response: httpx.Response, code: str, message: str = "") -> SendResult:
    """Return the failure for an HTTP error without a more specific provider code."""
    status = response.status_code
    if status == 429:
        return SendResult.failed(ref, permanent=False, code=THROTTLED, message=message or code)
    return SendResult.failed(
        ref, permanent=status < 500 and status not in (408, 409), code=code, message=message
    )


def form_of(body: bytes) -> dict[str, str]:
    """Return an x-www-form-urlencoded body as a dict (last value wins)."""
    from urllib.parse import parse_qsl

    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def json_of(body: bytes) -> Any:
    """Return a JSON body, or None when it is not JSON."""
    import orjson

    try:
        return orjson.loads(body or b"null")
    except orjson.JSONDecodeError:
        return None


class HttpSettings(BaseModel):
    """Settings every HTTP connector has; providers extend this model."""

    model_config = ConfigDict(extra="forbid")

    #: The provider's API root; point it at a local server in tests or a regional endpoint.
    base_url: str | None = None
    #: Clarion's public URL; callbacks go to ``<callback_base_url>/v1/callbacks/<key>/<event>``.
    callback_base_url: str | None = None
    concurrency: int = Field(16, ge=1, le=1000)
    timeout_s: float = Field(10.0, gt=0, le=300)
    sender: str | None = Field(None, max_length=32)


def to_e164(number: str) -> str:
    """Return ``number`` with a leading ``+`` (what most HTTP APIs want)."""
    return number if number.startswith("+") else "+" + number


def is_gsm(text: str) -> bool:
    """Return whether ``text`` fits the GSM 03.38 default alphabet (else it goes as UCS-2)."""
    from clarion.messages.encoding import count

    try:
        return count(text)[0] == "gsm7"
    except ValueError:
        return False
