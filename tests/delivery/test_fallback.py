"""Cross-channel fallback end to end: SMS through the SMSC simulator, email on a real SMTP server.

A failed or undelivered SMS, or one not delivered within the policy's time, goes out once by
email, with the content the policy gives; never on both channels because of a race.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.channels.email.conftest import SmtpSink, smtp, smtp_settings

from clarion.audit.service import Actor
from clarion.campaigns.control import launch
from clarion.channels.service import create_connector
from clarion.contacts.tables import contacts
from clarion.db.types import utcnow
from clarion.delivery import hooks
from clarion.delivery.channels import build_channels
from clarion.delivery.fallback import parse_policy
from clarion.delivery.fallback.service import fire_due
from clarion.delivery.tables import message_attempts, messages
from clarion.delivery.worker import Worker
from clarion.errors import ValidationFailed

__all__ = ["smtp"]  # the SMTP server fixture, shared with the email channel tests

FALLBACK = {
    "channel": "email",
    "subject": "Your offer, {{ contact.first_name }}",
    "text": "Hi {{ contact.first_name }}, 20% off today.",
    "html": "<p>Hi <b>{{ contact.first_name }}</b>, 20% off today.</p>",
}


def _give_email(engine: Engine, actor: Actor, ids: list[int], *, consent: str = "opted_in") -> None:
    """Give each contact an email address and an email marketing consent statement."""
    from clarion.consent.service import ConsentIn, record_consent

    with engine.begin() as conn:
        for cid in ids:
            conn.execute(
                contacts.update().where(contacts.c.id == cid).values(email=f"c{cid}@example.org")
            )
        record_consent(
            conn,
            actor,
            [ConsentIn(cid, "email", "marketing", consent, "form") for cid in ids],
        )


def _setup(
    engine: Engine, actor: Actor, make: Any, sink: SmtpSink, sim_port: int, connector: Any
) -> list[int]:
    """Three contacts with phone and email, an SMS route on the simulator, an email route."""
    ids = make.contacts(["+12025550100", "+12025550111", "+12025550122"])
    _give_email(engine, actor, ids)
    with engine.begin() as conn:
        create_connector(conn, actor, "mail", "smtp", smtp_settings(sink))
    connector(engine, actor, "sim", sim_port)
    make.route("sim")
    make.route("mail", channel="email")
    return ids


def _worker(engine: Engine, actor: Actor) -> Worker:
    worker = Worker(engine, workspace_id=actor.workspace_id)
    with engine.connect() as conn:
        for name, ch in build_channels(conn, actor.workspace_id, worker.on_report).items():
            worker.add_channel(name, ch)
    return worker


def _rows(engine: Engine) -> dict[str, tuple[str, str]]:
    """Return (channel, status) by the contact's phone."""
    with engine.connect() as conn:
        return {
            str(p): (str(ch), str(st))
            for p, ch, st in conn.execute(
                sa.select(contacts.c.phone, messages.c.channel, messages.c.status).join(
                    contacts, contacts.c.id == messages.c.contact_id
                )
            )
        }


def _run_until(worker: Worker, cond: Callable[[], bool], timeout: float = 30) -> None:
    """Step the worker and the fallback job until ``cond`` holds."""
    job = {j.name: j for j in hooks.jobs()}["fallback_timers"]

    async def go() -> None:
        deadline = time.monotonic() + timeout
        await worker.start()
        try:
            while not cond():
                if time.monotonic() > deadline:
                    raise AssertionError(f"timed out: {_rows(worker.engine)}")
                await asyncio.to_thread(job.run, worker.engine, worker.worker_id)
                if not await worker.step():
                    await worker.sweep()
                    await asyncio.sleep(0.05)  # receipts are on their way from the simulator
        finally:
            await worker.close()

    asyncio.run(go())


def test_an_undelivered_sms_goes_out_by_email_with_the_policy_content(
    engine: Engine,
    actor: Actor,
    make: Any,
    smtp: SmtpSink,
    smsc_thread: Any,
    connector: Any,
) -> None:
    # given an SMSC that reports one destination undelivered, and a campaign falling back
    sim = smsc_thread(outcomes={"+12025550111": "UNDELIV", "12025550111": "UNDELIV"})
    ids = _setup(engine, actor, make, smtp, sim.port, connector)
    cid = make.campaign(failover={"fallback": FALLBACK})
    launch(engine, actor, cid)
    # when the worker sends and the receipts come back
    worker = _worker(engine, actor)
    _run_until(worker, lambda: len(smtp.received) == 1 and "queued" not in str(_rows(engine)))
    # then the undelivered one went out by email, the others stayed SMS and were delivered
    rows = _rows(engine)
    assert rows == {
        "+12025550100": ("sms", "delivered"),
        "+12025550111": ("email", "delivered"),
        "+12025550122": ("sms", "delivered"),
    }
    (mail,) = smtp.received
    assert mail.rcpt_tos == [f"c{ids[1]}@example.org"]
    # and the email carries the policy's subject and parts, rendered for the contact
    assert mail.message["Subject"] == "Your offer, Ann1"
    html = mail.message.get_body(("html",))
    assert html is not None and "<b>Ann1</b>" in html.get_content()
    # and List-Unsubscribe carries the contact's signed preference link
    from clarion.preferences.links import preference_url

    with engine.connect() as conn:
        link = preference_url(conn, actor.workspace_id, ids[1])
    assert f"<{link}>" in str(mail.message["List-Unsubscribe"])
    # and the SMSC saw each number once: nothing went out twice
    assert sorted(Counter(sim.destinations()).values()) == [1, 1, 1]


def test_an_sms_not_delivered_in_time_goes_out_by_email_once(
    engine: Engine,
    actor: Actor,
    make: Any,
    smtp: SmtpSink,
    smsc_thread: Any,
    connector: Any,
) -> None:
    # given an SMSC whose receipts take an hour, and a 1-second fallback timer
    sim = smsc_thread(receipt_delay=3600)
    _setup(engine, actor, make, smtp, sim.port, connector)
    cid = make.campaign(failover={"fallback": {**FALLBACK, "after_s": 1}})
    launch(engine, actor, cid)
    # when the worker runs past the timer
    worker = _worker(engine, actor)
    _run_until(worker, lambda: len(smtp.received) == 3)
    # then every message went by email once the timer fired, after the SMS was submitted
    assert set(_rows(engine).values()) == {("email", "delivered")}
    assert len(sim.destinations()) == 3
    with engine.connect() as conn:
        results = Counter(r for (r,) in conn.execute(sa.select(message_attempts.c.result)))
    assert results["not_delivered_in_time"] == 3 and results["submitted"] == 6
    # and a late SMS receipt for the old route changes nothing
    assert sorted(m.rcpt_tos[0] for m in smtp.received) == sorted(
        f"c{i}@example.org" for i in range(1, 4)
    )


def test_concurrent_timer_runs_fall_back_each_message_exactly_once(
    engine: Engine, actor: Actor, make: Any, smtp: SmtpSink, connector: Any
) -> None:
    # given 60 submitted SMS whose fallback timer is long due
    phones = [f"+1202555{i:04d}" for i in range(60)]
    ids = make.contacts(phones)
    _give_email(engine, actor, ids)
    with engine.begin() as conn:
        create_connector(conn, actor, "mail", "smtp", smtp_settings(smtp))
    connector(engine, actor, "sim", 1)
    make.route("sim")
    make.route("mail", channel="email")
    cid = make.campaign(failover={"fallback": {**FALLBACK, "after_s": 5}})
    launch(engine, actor, cid)
    past = utcnow() - timedelta(minutes=5)
    with engine.begin() as conn:
        conn.execute(
            messages.update()
            .where(messages.c.campaign_id == cid)
            .values(status="submitted", send_at=past, submitted_at=past, provider_id="x")
        )
    # when four workers run the timer at the same moment
    barrier = threading.Barrier(4)
    counts: list[Counter[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            total: Counter[str] = Counter()
            while True:
                with engine.begin() as conn:
                    done = fire_due(conn, now=utcnow(), limit=7)
                if not done:
                    break
                total.update(done)
            counts.append(total)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    # then each message fell back exactly once, with one attempt row each
    assert sum(c["fallback"] for c in counts) == 60
    with engine.connect() as conn:
        n = conn.execute(
            sa.select(sa.func.count()).where(message_attempts.c.result == "not_delivered_in_time")
        ).scalar_one()
    assert n == 60
    assert set(_rows(engine).values()) == {("email", "queued")}


def test_a_send_api_message_falls_back_by_its_own_policy(
    engine: Engine, actor: Actor, make: Any, smtp: SmtpSink, smsc_thread: Any, connector: Any
) -> None:
    sending = pytest.importorskip("clarion.sending.service")
    # given a transactional SMS with a 1-second fallback and an SMSC slow to report
    sim = smsc_thread(receipt_delay=3600)
    ids = _setup(engine, actor, make, smtp, sim.port, connector)
    with engine.begin() as conn:
        msg = sending.send_message(
            conn,
            actor,
            sending.SendRequest(
                contact_id=ids[0],
                text="Your order 1001 has shipped",
                fallback={"channel": "email", "after_s": 1, "subject": "Order 1001"},
            ),
        )
    # when the worker runs past the timer
    worker = _worker(engine, actor)
    _run_until(worker, lambda: len(smtp.received) == 1)
    # then the email carries the SMS text under the policy's subject
    (mail,) = smtp.received
    assert mail.message["Subject"] == "Order 1001"
    body = mail.message.get_body(("plain",))
    assert body is not None and "Your order 1001 has shipped" in body.get_content()
    with engine.connect() as conn:
        row = conn.execute(sa.select(messages).where(messages.c.id == msg["id"])).one()
    assert (row.channel, row.destination) == ("email", f"c{ids[0]}@example.org")


def test_a_policy_with_a_mistake_is_refused_naming_the_field() -> None:
    # when a policy has a bad timer and an unknown key
    with pytest.raises(ValidationFailed) as bad_timer:
        parse_policy({"channel": "email", "after_s": 0})
    with pytest.raises(ValidationFailed) as unknown:
        parse_policy({"channel": "email", "subjet": "typo"})
    # then each error names the field
    assert bad_timer.value.fields["field"] == "fallback.after_s"
    assert unknown.value.fields["field"] == "fallback.subjet"


def _planned(
    engine: Engine,
    actor: Actor,
    make: Any,
    smtp: SmtpSink,
    failover: Any,
    email_consent: str = "opted_in",
) -> list[int]:
    """Plan a campaign to two contacts with email (SMS route "sim", email route "mail")."""
    ids = make.contacts(["+12025550100", "+12025550111"])
    _give_email(engine, actor, ids[:1])
    _give_email(engine, actor, ids[1:], consent=email_consent)
    with engine.begin() as conn:
        create_connector(conn, actor, "mail", "smtp", smtp_settings(smtp))
    make.route("sim")
    make.route("mail", channel="email")
    launch(engine, actor, make.campaign(failover=failover))
    with engine.connect() as conn:
        return [
            int(i) for i in conn.execute(sa.select(messages.c.id).order_by(messages.c.id)).scalars()
        ]


def test_a_saved_email_template_gives_the_fallback_its_subject_and_text(
    engine: Engine, actor: Actor, make: Any, smtp: SmtpSink
) -> None:
    from clarion.channels.email.content import EmailContent
    from clarion.delivery.outcomes import Failure, fail_or_failover
    from clarion.messages.service import save_template

    # given an email template with a Subject line, and a campaign falling back to it
    with engine.begin() as conn:
        save_template(
            conn,
            actor,
            name="offer",
            channel="email",
            body="Subject: Hello {{ contact.first_name }}\n\nYour offer is waiting.",
        )
    m1, _ = _planned(
        engine, actor, make, smtp, {"fallback": {"channel": "email", "template": "offer"}}
    )
    # when the SMS fails for good
    with engine.begin() as conn:
        done = fail_or_failover(
            conn, [Failure(m1, "permanent", "ESME_RINVDSTADR")], now=utcnow(), expect=("queued",)
        )
    # then the message is queued by email with the template's subject and text
    assert done["fallback"] == 1
    with engine.connect() as conn:
        row = conn.execute(sa.select(messages).where(messages.c.id == m1)).one()
    content = EmailContent.from_body(row.body)
    assert (row.channel, row.status) == ("email", "queued")
    assert content.subject == "Hello Ann0" and content.text == "Your offer is waiting."


def test_a_fallback_template_that_cannot_render_fails_only_its_message(
    engine: Engine, actor: Actor, make: Any, smtp: SmtpSink
) -> None:
    from clarion.delivery.outcomes import Failure, fail_or_failover

    # given a campaign whose fallback names a template that does not exist
    m1, m2 = _planned(
        engine, actor, make, smtp, {"fallback": {"channel": "email", "template": "missing"}}
    )
    # when both messages fail in one batch
    with engine.begin() as conn:
        done = fail_or_failover(
            conn,
            [Failure(m1, "permanent", "X"), Failure(m2, "permanent", "X")],
            now=utcnow(),
            expect=("queued",),
        )
    # then the batch is written: both end failed on SMS instead of breaking the write-back
    assert done == Counter({"failed": 2})
    assert set(_rows(engine).values()) == {("sms", "failed")}


def test_no_fallback_to_a_channel_the_contact_opted_out_of(
    engine: Engine, actor: Actor, make: Any, smtp: SmtpSink
) -> None:
    from clarion.delivery.outcomes import Failure, fail_or_failover

    # given two contacts, the second opted out of marketing email, and a falling-back campaign
    m1, m2 = _planned(engine, actor, make, smtp, {"fallback": FALLBACK}, email_consent="opted_out")
    # when both SMS fail for good
    with engine.begin() as conn:
        done = fail_or_failover(
            conn,
            [Failure(m1, "permanent", "X"), Failure(m2, "permanent", "X")],
            now=utcnow(),
            expect=("queued",),
        )
    # then only the consenting contact gets the email; the other's message fails on SMS
    assert (done["fallback"], done["fallback_blocked"], done["failed"]) == (1, 1, 1)
    assert sorted(_rows(engine).values()) == [("email", "queued"), ("sms", "failed")]


def test_a_campaign_timer_that_cannot_fall_back_fires_once_and_is_not_rescanned(
    engine: Engine, actor: Actor, make: Any, smtp: SmtpSink
) -> None:
    from clarion.delivery.fallback.tables import message_fallbacks

    # given a submitted, overdue SMS to a contact who opted out of email, with a campaign timer
    _, m2 = _planned(
        engine,
        actor,
        make,
        smtp,
        {"fallback": {**FALLBACK, "after_s": 5}},
        email_consent="opted_out",
    )
    past = utcnow() - timedelta(minutes=5)
    with engine.begin() as conn:
        conn.execute(
            messages.update()
            .where(messages.c.id == m2)
            .values(status="submitted", send_at=past, submitted_at=past)
        )
    # when the timer runs twice
    with engine.begin() as conn:
        first = fire_due(conn, now=utcnow())
    with engine.begin() as conn:
        second = fire_due(conn, now=utcnow())
    # then it fired once, left the SMS as it was, and recorded why; the next scan skips it
    assert first["no_fallback"] == 1 and second == Counter()
    assert _rows(engine)["+12025550111"] == ("sms", "submitted")
    with engine.connect() as conn:
        outcome = conn.execute(
            sa.select(message_fallbacks.c.outcome).where(message_fallbacks.c.message_id == m2)
        ).scalar_one()
    assert outcome.startswith("blocked:")
