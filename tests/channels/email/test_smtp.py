"""The email channel against a real SMTP server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from tests.channels.email.conftest import SmtpSink, smtp_settings

from clarion.channels.base import OutboundMessage, Receipt, Report, SendResult
from clarion.channels.config import ConnectorConfig
from clarion.channels.email.bounce import parse_dsn
from clarion.channels.email.content import EmailContent
from clarion.channels.email.smtp import SmtpChannel


def _send(
    sink: SmtpSink, batch: Sequence[OutboundMessage], *, opened: bool = True, **kw: Any
) -> tuple[list[SendResult], list[Report]]:
    reports: list[Report] = []
    settings = smtp_settings(sink, **{"timeout_s": 5, **kw})
    secrets = {"password": settings.pop("password")}
    channel = SmtpChannel(ConnectorConfig("mail", "smtp", settings, secrets), reports.append)

    async def go() -> list[SendResult]:
        if opened:
            await channel.open()
        try:
            return await channel.send(batch)
        finally:
            await channel.close()

    return asyncio.run(go()), reports


def test_an_email_goes_out_as_text_and_html_with_one_click_unsubscribe(smtp: SmtpSink) -> None:
    # given an email with a subject, both parts and a signed preference link
    body = EmailContent(
        text="Hello Ann,\n\nYour order shipped.",
        subject="Your order",
        html="<p>Hello <b>Ann</b></p>",
        unsubscribe_url="https://acme.example/p/signed-token",
    ).to_body()
    # when it is sent
    (res,), reports = _send(smtp, [OutboundMessage(ref="42", to="ann@example.org", text=body)])
    # then the server received it once, after AUTH, from our envelope sender
    assert res.ok and len(smtp.received) == 1 and set(smtp.logins) == {"mailer"}
    got = smtp.received[0]
    assert got.rcpt_tos == ["ann@example.org"] and got.mail_from == "news@acme.example"
    msg = got.message
    # and it is multipart/alternative with the text and the HTML
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Subject"] == "Your order" and msg["From"] == "Acme <news@acme.example>"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and "Your order shipped." in text.get_content()
    assert html is not None and "<b>Ann</b>" in html.get_content()
    # and List-Unsubscribe offers mailto and the https link, with RFC 8058 one-click
    unsub = str(msg["List-Unsubscribe"])
    assert "<mailto:unsubscribe@acme.example?subject=unsubscribe%2042>" in unsub
    assert "<https://acme.example/p/signed-token>" in unsub
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # and the Message-ID is the provider id, reported delivered on the relay's acceptance
    assert str(msg["Message-ID"]).strip("<>") == res.provider_ids[0]
    assert res.provider_ids[0].startswith("42.")
    assert [(r.provider_id, r.state) for r in reports if isinstance(r, Receipt)] == [
        (res.provider_ids[0], "DELIVRD")
    ]


def test_a_plain_sms_text_falls_back_to_an_escaped_html_part(smtp: SmtpSink) -> None:
    # given a plain text body (an SMS text falling back to email) and the connector's URL
    (res,), _ = _send(smtp, [OutboundMessage(ref="7", to="bo@example.org", text="A < B & C")])
    assert res.ok
    # then the text part is the text, the HTML part escapes it, the subject is the default
    msg = smtp.received[0].message
    plain, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None and plain.get_content().strip() == "A < B & C"
    assert html is not None and "A &lt; B &amp; C" in html.get_content()
    assert msg["Subject"] == "A message for you"
    assert "<https://acme.example/u/7>" in str(msg["List-Unsubscribe"])


def test_smtp_replies_map_to_permanent_and_transient_failures(smtp: SmtpSink) -> None:
    # given a server that refuses one recipient for good and defers another
    smtp.reject = {
        "gone@example.org": "550 5.1.1 No such user",
        "full@example.org": "452 4.2.2 Mailbox full",
    }
    batch = [
        OutboundMessage(ref=str(i), to=to, text="Hi")
        for i, to in enumerate(["gone@example.org", "full@example.org", "ok@example.org"])
    ]
    # when the batch goes out over one connection
    gone, full, ok = _send(smtp, batch, concurrency=1)[0]
    # then 5xx is permanent, 4xx transient, and the connection carried on to the next one
    assert (gone.ok, gone.permanent, gone.code) == (False, True, "SMTP550")
    assert (full.ok, full.permanent, full.code) == (False, False, "SMTP452")
    assert ok.ok and [r.rcpt_tos for r in smtp.received] == [["ok@example.org"]]


def test_a_relay_that_cannot_be_reached_fails_transiently(smtp: SmtpSink) -> None:
    # given a connector pointing at a port nobody listens on
    smtp.port = 1
    # when a message is sent
    (res,), _ = _send(smtp, [OutboundMessage(ref="1", to="a@example.org", text="Hi")], opened=False)
    # then it is a transient failure: a retry may reach the relay
    assert (res.ok, res.permanent, res.code) == (False, False, "SMTP_CONNECT")


def test_a_wrong_password_is_refused_by_the_server(smtp: SmtpSink) -> None:
    # when the connector logs in with a wrong password
    batch = [OutboundMessage(ref="1", to="a@example.org", text="Hi")]
    (res,), _ = _send(smtp, batch, opened=False, password="x")
    # then nothing was accepted and the message can be retried once the setting is fixed
    assert not res.ok and not res.permanent and smtp.received == []


DSN = b"""\
From: MAILER-DAEMON@mx.example.org
To: bounces@acme.example
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Your message could not be delivered.
--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; gone@example.org
Action: failed
Status: 5.1.1

--B
Content-Type: text/rfc822-headers

Message-ID: <42.abc123@acme.example>
Subject: Your order

--B--
"""


def test_a_bounce_names_the_message_by_its_message_id() -> None:
    # when a delivery status notification is read
    receipt = parse_dsn(DSN, connector="mail")
    # then it is a final failure of the message whose Message-ID it quotes
    assert receipt is not None
    assert (receipt.provider_id, receipt.state, receipt.final, receipt.error) == (
        "42.abc123@acme.example",
        "UNDELIV",
        True,
        "5.1.1",
    )
    # and a delayed-delivery notice is not final
    delayed = parse_dsn(DSN.replace(b"Action: failed", b"Action: delayed"))
    assert delayed is not None and not delayed.final
    assert parse_dsn(b"Subject: hello\n\nnot a report") is None
