"""The email channel: SMTP submission with text and HTML parts and one-click unsubscribe.

aiosmtplib does the protocol (STARTTLS, AUTH, pipelining); this module builds the message and
maps outcomes. Each of up to ``concurrency`` connections sends its share of a batch one message
after another, so a batch costs a handful of TCP/TLS handshakes, not one per message.

Message shape: ``multipart/alternative`` with a text and an HTML part (the HTML is derived
from the text when the message has none), ``Message-ID: <ref.random@domain>`` (kept as the
provider id, so a bounce quoting it finds the message), ``List-Unsubscribe`` with a mailto and
an https URL, and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058: only with an
https URL, which must accept a POST without a confirmation page).

Outcomes: every recipient accepted -> submitted, and when ``accepted_is_delivered`` (the
default: SMTP gives no delivery receipt; a relay's acceptance is the end of what we can see) a
DELIVRD report follows; a 5xx reply (RFC 5321 4.2.1) -> permanent with the code; a 4xx reply
or a connection that cannot be made -> transient; a connection lost after the message data
was sent -> uncertain.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from urllib.parse import quote

import aiosmtplib
from pydantic import BaseModel, ConfigDict, Field

from clarion.channels.base import OutboundMessage, Receipt, ReportCallback, SendResult
from clarion.channels.config import ConnectorConfig
from clarion.channels.email.content import EmailContent
from clarion.channels.http.base import CallbackRequest, CallbackResult, now_utc
from clarion.channels.registry import Provider


class Settings(BaseModel):
    """An SMTP relay (submission port) and how our messages present themselves."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    use_tls: bool = False  # implicit TLS (port 465)
    from_address: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    from_name: str | None = None
    reply_to: str | None = None
    bounce_address: str | None = None  # envelope sender (Return-Path); from_address if unset
    default_subject: str = "A message for you"
    unsubscribe_mailto: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+$")
    #: Used when the message carries no signed preference link; ``{ref}`` is our message id.
    unsubscribe_url: str | None = Field(None, pattern=r"^https://")
    message_id_domain: str | None = None
    accepted_is_delivered: bool = True
    concurrency: int = Field(4, ge=1, le=100)
    timeout_s: float = Field(30.0, gt=0, le=600)
    callback_base_url: str | None = None


def build_message(cfg: ConnectorConfig, msg: OutboundMessage) -> tuple[EmailMessage, str]:
    """Return the MIME message for ``msg`` and its Message-ID (without angle brackets)."""
    content = EmailContent.from_body(msg.text)
    from_address = str(cfg.get("from_address"))
    domain = cfg.get("message_id_domain") or from_address.rsplit("@", 1)[1]
    message_id = f"<{msg.ref}.{secrets.token_hex(8)}@{domain}>"
    em = EmailMessage()
    em["From"] = formataddr((cfg.get("from_name") or "", from_address))
    em["To"] = msg.to
    em["Subject"] = content.subject or str(cfg.get("default_subject", "A message for you"))
    em["Date"] = format_datetime(now_utc())
    em["Message-ID"] = message_id
    if cfg.get("reply_to"):
        em["Reply-To"] = str(cfg.get("reply_to"))
    unsubscribe = []
    if cfg.get("unsubscribe_mailto"):
        subject = quote(f"unsubscribe {msg.ref}")
        unsubscribe.append(f"<mailto:{cfg.get('unsubscribe_mailto')}?subject={subject}>")
    url = content.unsubscribe_url or (
        str(cfg.get("unsubscribe_url")).replace("{ref}", quote(msg.ref))
        if cfg.get("unsubscribe_url")
        else None
    )
    if url:
        unsubscribe.append(f"<{url}>")
    if unsubscribe:
        em["List-Unsubscribe"] = ", ".join(unsubscribe)
    if url and url.startswith("https://"):
        em["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    em.set_content(content.text)
    em.add_alternative(content.html_part(), subtype="html")
    return em, message_id.strip("<>")


def _reply_failure(ref: str, code: int, text: str) -> SendResult:
    """Map an SMTP reply code: 5xx permanent, 4xx transient (RFC 5321 4.2.1)."""
    return SendResult.failed(ref, permanent=500 <= code < 600, code=f"SMTP{code}", message=text)


class SmtpChannel:
    """Send email through one SMTP relay with a few reused connections."""

    def __init__(self, config: ConnectorConfig, on_report: ReportCallback | None = None) -> None:
        self.config = config
        self.on_report = on_report

    async def open(self) -> None:
        """Check that the relay answers (connections are made per batch)."""
        smtp = self._client()
        try:
            await smtp.connect()
            await smtp.quit()
        finally:
            if smtp.is_connected:
                smtp.close()

    async def close(self) -> None:
        """Nothing stays open between batches."""

    def _client(self) -> aiosmtplib.SMTP:
        cfg = self.config
        return aiosmtplib.SMTP(
            hostname=str(cfg.get("host")),
            port=int(cfg.get("port", 587)),
            username=cfg.get("username") or None,
            password=cfg.get("password") or None,
            use_tls=bool(cfg.get("use_tls", False)),
            start_tls=bool(cfg.get("starttls", False)),
            timeout=float(cfg.get("timeout_s", 30.0)),
        )

    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        """Send ``batch`` over up to ``concurrency`` connections; one result per message."""
        lanes = max(1, min(int(self.config.get("concurrency", 4)), len(batch)))
        results: dict[str, SendResult] = {}
        await asyncio.gather(*(self._lane(batch[i::lanes], results) for i in range(lanes)))
        return [results[m.ref] for m in batch]

    async def _lane(self, items: Sequence[OutboundMessage], out: dict[str, SendResult]) -> None:
        smtp = self._client()
        try:
            await smtp.connect()
        except (aiosmtplib.SMTPException, OSError) as exc:
            for m in items:
                out[m.ref] = SendResult.failed(
                    m.ref, permanent=False, code="SMTP_CONNECT", message=str(exc)
                )
            return
        try:
            for i, m in enumerate(items):
                try:
                    out[m.ref] = await self._send_one(smtp, m)
                except aiosmtplib.SMTPServerDisconnected as exc:
                    # The data may have reached the relay: uncertain; the rest was never sent.
                    out[m.ref] = SendResult.failed(
                        m.ref,
                        permanent=False,
                        code="SMTP_DISCONNECTED",
                        message=str(exc),
                        uncertain=True,
                    )
                    for rest in items[i + 1 :]:
                        out[rest.ref] = SendResult.failed(
                            rest.ref, permanent=False, code="SMTP_DISCONNECTED"
                        )
                    return
        finally:
            if smtp.is_connected:
                try:
                    await smtp.quit()
                except aiosmtplib.SMTPException:
                    smtp.close()

    async def _send_one(self, smtp: aiosmtplib.SMTP, m: OutboundMessage) -> SendResult:
        em, message_id = build_message(self.config, m)
        sender = str(self.config.get("bounce_address") or self.config.get("from_address"))
        try:
            refused, _ = await smtp.send_message(em, sender=sender, recipients=[m.to])
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0]
            return _reply_failure(m.ref, first.code, first.message)
        except aiosmtplib.SMTPResponseException as exc:
            if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
                raise
            return _reply_failure(m.ref, exc.code, exc.message)
        if refused:
            code, text = next(iter(refused.values()))
            return _reply_failure(m.ref, code, text)
        if self.config.get("accepted_is_delivered", True) and self.on_report is not None:
            self.on_report(
                Receipt(
                    message_id, "DELIVRD", final=True, done_at=now_utc(), connector=self.config.name
                )
            )
        return SendResult.submitted(m.ref, [message_id])


def handle_callback(cfg: ConnectorConfig, event: str, req: CallbackRequest) -> CallbackResult:
    """Map a bounce (a DSN, RFC 3464, POSTed raw by the MTA's pipe) to a receipt."""
    from clarion.channels.email.bounce import parse_dsn

    if event != "bounce":
        return CallbackResult(status_code=404, body=b"smtp connectors take bounces only")
    receipt = parse_dsn(req.body, connector=cfg.name)
    return CallbackResult([receipt] if receipt is not None else [])


def build(cfg: ConnectorConfig, on_report: ReportCallback | None) -> SmtpChannel:
    """Return the channel of an SMTP connector."""
    return SmtpChannel(cfg, on_report)


PROVIDER = Provider(
    kind="smtp",
    channel="email",
    settings=Settings,
    secrets=("password",),
    build=build,
    callback=handle_callback,
)
