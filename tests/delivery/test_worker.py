"""The worker end to end over a loopback channel: send, receipts, failover, control, recovery."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.campaigns.control import cancel, launch, pause, resume
from clarion.campaigns.service import get_campaign
from clarion.channels.base import OutboundMessage, Receipt, SendResult
from clarion.compliance.tables import compliance_send_log
from clarion.db.types import utcnow
from clarion.delivery import dispatcher, leases
from clarion.delivery.tables import message_attempts, messages
from clarion.delivery.worker import Worker


def _drain(worker: Worker, *, rounds: int = 50) -> None:
    """Run the worker until nothing is due, then one sweep (completion, auto-pause)."""

    async def go() -> None:
        await worker.start()
        for _ in range(rounds):
            if not await worker.step():
                break
        await worker.sweep()
        await worker.close()

    asyncio.run(go())


def _statuses(engine: Engine, cid: int) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(messages.c.status, sa.func.count())
            .where(messages.c.campaign_id == cid)
            .group_by(messages.c.status)
        )
        return {str(s): int(n) for s, n in rows}


def _route_names(engine: Engine, cid: int) -> dict[int, str]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                sa.text(
                    "SELECT m.contact_id, r.name FROM messages m"
                    f" JOIN routes r ON r.id = m.route_id WHERE m.campaign_id = {cid}"
                )
            ).all()
        )


def test_a_campaign_is_sent_delivered_and_completed(
    engine: Engine, actor: Actor, make: Any, loopback: Any
) -> None:
    # given five consenting contacts, one route and a launched campaign
    make.contacts([f"+1202555{i:04d}" for i in range(5)])
    make.route("main")
    cid = make.campaign()
    report = launch(engine, actor, cid)
    assert report.planned == 5
    # when a worker runs
    worker = Worker(engine, batch_size=2, send_chunk=2)
    chan = loopback("main", worker.on_report)
    worker.add_channel("main", chan)
    _drain(worker)
    # then every message went out once, was delivered, and the campaign completed
    assert len(chan.sent) == 5
    assert _statuses(engine, cid) == {"delivered": 5}
    with engine.connect() as conn:
        assert get_campaign(conn, actor.workspace_id, cid).status == "completed"
        row = conn.execute(sa.select(messages).limit(1)).first()
    assert row is not None and row.submitted_at is not None and row.delivered_at is not None
    assert row.attempts == 1 and row.provider_id.startswith("main-")


def test_a_route_that_fails_everything_hands_over_to_the_next(
    engine: Engine, actor: Actor, make: Any, loopback: Any
) -> None:
    ids = make.contacts([f"+1202555{i:04d}" for i in range(4)])
    make.route("broken", priority=1)
    make.route("backup", priority=2)
    cid = make.campaign()
    launch(engine, actor, cid)
    worker = Worker(engine)
    broken = loopback("broken", worker.on_report, fail_all=True)
    backup = loopback("backup", worker.on_report)
    worker.add_channel("broken", broken)
    worker.add_channel("backup", backup)
    _drain(worker)
    assert _statuses(engine, cid) == {"delivered": 4}
    assert _route_names(engine, cid) == {i: "backup" for i in ids}
    assert len(backup.sent) == 4 and broken.sent == []
    # and each message keeps both attempts
    with engine.connect() as conn:
        results = sorted(
            r.result
            for r in conn.execute(
                sa.select(message_attempts.c.result).where(message_attempts.c.message_id == 1)
            )
        )
    assert results == ["delivered", "failed_permanent", "submitted"]


def test_an_undelivered_receipt_moves_the_message_to_the_next_route(
    engine: Engine, actor: Actor, make: Any, loopback: Any
) -> None:
    (bad,) = make.contacts(["+17775550100"])
    make.route("first", priority=1, prefixes=["+1"])
    make.route("second", priority=2)
    cid = make.campaign()
    launch(engine, actor, cid)
    worker = Worker(engine)
    worker.add_channel("first", loopback("first", worker.on_report))
    second = loopback("second", worker.on_report)
    worker.add_channel("second", second)
    _drain(worker)
    # the simulated network refuses +1777 everywhere: it ends failed after both routes
    assert _statuses(engine, cid) == {"failed": 1}
    assert _route_names(engine, cid) == {bad: "second"}
    assert len(second.sent) == 1


def test_a_connector_that_is_down_fails_over(
    engine: Engine, actor: Actor, make: Any, loopback: Any
) -> None:
    make.contacts(["+12025550100", "+12025550101"])
    make.route("down", priority=1)
    make.route("up", priority=2)
    cid = make.campaign()
    launch(engine, actor, cid)
    worker = Worker(engine)
    worker.add_channel("down", loopback("down", worker.on_report, down=True))
    worker.add_channel("up", loopback("up", worker.on_report))
    _drain(worker)
    assert _statuses(engine, cid) == {"delivered": 2}


def test_permanent_failure_without_another_route_is_final(
    engine: Engine, actor: Actor, make: Any, loopback: Any
) -> None:
    make.contacts(["+19995550100", "+12025550101"])
    make.route("only")
    cid = make.campaign()
    launch(engine, actor, cid)
    worker = Worker(engine)
    worker.add_channel("only", loopback("only", worker.on_report))
    _drain(worker)
    assert _statuses(engine, cid) == {"delivered": 1, "failed": 1}
    with engine.connect() as conn:
        code = conn.execute(
            sa.select(messages.c.provider_code).where(messages.c.status == "failed")
        ).scalar_one()
    assert code == "ESME_RINVDSTADR"


def test_a_transient_failure_is_retried_later_not_at_once(
    engine: Engine, actor: Actor, make: Any, loopback: Any
) -> None:
    make.contacts(["+18885550100"])
    make.route("only")
    cid = make.campaign(failover={"retry_after_s": 60, "max_transient": 3})
    launch(engine, actor, cid)
    worker = Worker(engine)
    worker.add_channel("only", loopback("only", worker.on_report))
    _drain(worker)
    with engine.connect() as conn:
        row = conn.execute(sa.select(messages)).one()
    assert row.status == "queued" and row.attempts == 1
    assert row.send_at > utcnow() + timedelta(seconds=50)


def test_cancel_during_a_send_stops_it_and_reports_the_recall(
    engine: Engine, actor: Actor, make: Any, loopback: Any
) -> None:
    # given 20 recipients sent in chunks of 4
    make.contacts([f"+1202555{i:04d}" for i in range(20)])
    make.route("main")
    cid = make.campaign()
    launch(engine, actor, cid)
    worker = Worker(engine, batch_size=12, send_chunk=4)
    recall: dict[str, int] = {}
    cancelled_at: list[float] = []

    def cancel_after_first(batch: Sequence[OutboundMessage]) -> None:
        if not cancelled_at:  # meanwhile a person cancels, from another connection
            with engine.begin() as conn:
                recall.update(cancel(conn, actor, cid))
            cancelled_at.append(time.monotonic())

    chan = loopback("main", worker.on_report, before_send=cancel_after_first)
    worker.add_channel("main", chan)
    _drain(worker)
    # then only the chunk on the wire went out; the rest of the claimed batch was released
    assert len(chan.sent) == 4
    assert _statuses(engine, cid) == {"delivered": 4, "cancelled": 16}
    # and the cancel reported 8 recalled from the queue and 12 claimed by the worker
    assert recall == {"recalled": 8, "already_sent": 0, "in_flight": 12}


def test_pause_holds_messages_and_resume_sends_them(
    engine: Engine, actor: Actor, make: Any, loopback: Any
) -> None:
    make.contacts([f"+1202555{i:04d}" for i in range(3)])
    make.route("main")
    cid = make.campaign()
    launch(engine, actor, cid)
    with engine.begin() as conn:
        pause(conn, actor, cid, reason="typo")
    worker = Worker(engine)
    chan = loopback("main", worker.on_report)
    worker.add_channel("main", chan)
    _drain(worker)
    assert chan.sent == [] and _statuses(engine, cid) == {"queued": 3}
    with engine.begin() as conn:
        resume(conn, actor, cid)
    _drain(worker)
    assert _statuses(engine, cid) == {"delivered": 3}


def test_messages_of_a_dead_worker_become_uncertain(
    engine: Engine, actor: Actor, make: Any
) -> None:
    # given messages claimed by a worker whose lease then expired
    make.contacts([f"+1202555{i:04d}" for i in range(3)])
    make.route("main")
    cid = make.campaign()
    launch(engine, actor, cid)
    now = utcnow()
    with engine.begin() as conn:
        leases.acquire(conn, "worker:dead", "dead", 1.0, now=now - timedelta(seconds=30))
        claimed = dispatcher.claim(conn, "dead", connectors={"main"}, limit=2, now=now)
    assert len(claimed) == 2
    # when another worker sweeps
    with engine.begin() as conn:
        n = dispatcher.recover_stale(conn, now=now)
    # then the two in flight are uncertain, the third still queued
    assert n == 2
    assert _statuses(engine, cid) == {"uncertain": 2, "queued": 1}


def test_uncertain_messages_are_resent_only_when_the_policy_says_so(
    engine: Engine, actor: Actor, make: Any
) -> None:
    make.contacts(["+12025550100"])
    make.route("main")
    cid = make.campaign(failover={"resend_uncertain": True})
    launch(engine, actor, cid)
    now = utcnow()
    with engine.begin() as conn:
        dispatcher.claim(conn, "gone", connectors={"main"}, limit=5, now=now)
        dispatcher.recover_stale(conn, now=now)
        row = conn.execute(sa.select(messages)).one()
    assert row.status == "queued" and row.uncertain is True


def test_connector_leases_are_exclusive_until_they_expire(engine: Engine) -> None:
    now = utcnow()
    with engine.begin() as conn:
        assert leases.acquire(conn, "connector:x", "w1", 10, now=now)
        assert not leases.acquire(conn, "connector:x", "w2", 10, now=now)
        assert leases.acquire(conn, "connector:x", "w1", 10, now=now)  # renew
        # after expiry another worker takes it over
        later = now + timedelta(seconds=11)
        assert leases.acquire(conn, "connector:x", "w2", 10, now=later)
        assert leases.holders(conn, now=later) == {"connector:x": "w2"}


def test_two_workers_split_connectors(
    engine: Engine, actor: Actor, make: Any, loopback: Any
) -> None:
    make.contacts([f"+1202555{i:04d}" for i in range(6)])
    make.route("main")
    cid = make.campaign()
    launch(engine, actor, cid)
    w1, w2 = Worker(engine, worker_id="w1"), Worker(engine, worker_id="w2")
    c1, c2 = loopback("main", w1.on_report), loopback("main", w2.on_report)
    w1.add_channel("main", c1)
    w2.add_channel("main", c2)

    async def go() -> None:
        await w1.start()
        await w2.start()
        for _ in range(5):
            await w1.step()
            await w2.step()
        await w1.close()
        await w2.close()

    asyncio.run(go())
    # only the lease holder drives the connector, and nothing is sent twice
    assert (len(c1.sent), len(c2.sent)) == (6, 0)
    assert _statuses(engine, cid) == {"delivered": 6}


def test_error_rate_pauses_the_campaign(
    engine: Engine, actor: Actor, make: Any, loopback: Any
) -> None:
    make.contacts([f"+1999555{i:04d}" for i in range(6)])
    make.route("only")
    cid = make.campaign(failover={"error_pause_ratio": 0.5, "error_pause_min": 5})
    launch(engine, actor, cid)
    worker = Worker(engine)
    worker.add_channel("only", loopback("only", worker.on_report))
    _drain(worker)
    with engine.connect() as conn:
        camp = get_campaign(conn, actor.workspace_id, cid)
    assert camp.status == "paused" and "error rate 6/6" in (camp.status_reason or "")


def test_no_receipt_within_validity_expires_then_fails_over(
    engine: Engine, actor: Actor, make: Any, loopback: Any
) -> None:
    make.contacts(["+12025550100"])
    make.route("silent", priority=1)
    make.route("backup", priority=2)
    cid = make.campaign(validity_s=60)
    launch(engine, actor, cid)
    worker = Worker(engine)
    worker.add_channel("silent", loopback("silent", worker.on_report, receipts=False))
    backup = loopback("backup", worker.on_report)
    worker.add_channel("backup", backup)
    _drain(worker)
    assert _statuses(engine, cid) == {"submitted": 1}
    with engine.begin() as conn:  # two minutes pass without a receipt
        conn.execute(messages.update().values(submitted_at=utcnow() - timedelta(seconds=120)))
    _drain(worker)
    assert _statuses(engine, cid) == {"delivered": 1} and len(backup.sent) == 1


def test_a_campaign_throughput_limit_holds(
    engine: Engine, actor: Actor, make: Any, loopback: Any
) -> None:
    # given 40 recipients and a campaign limited to 10 messages a second
    make.contacts([f"+1202555{i:04d}" for i in range(40)])
    make.route("main")
    cid = make.campaign(throughput_per_s=10)
    launch(engine, actor, cid)
    worker = Worker(engine)
    chan = loopback("main", worker.on_report)
    worker.add_channel("main", chan)

    async def go() -> float:
        await worker.start()
        started = time.monotonic()
        while len(chan.sent) < 15:
            if not await worker.step():
                await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started
        await worker.close()
        return elapsed

    elapsed = asyncio.run(go())
    # then 15 messages took at least the half second the bucket allows past its first 10
    assert elapsed >= 0.45
    assert len(chan.sent) <= 10 + 10 * elapsed + 1
    assert _statuses(engine, cid)["queued"] > 0


def test_with_no_sms_route_left_the_message_falls_back_to_email(
    engine: Engine, actor: Actor, make: Any, loopback: Any
) -> None:
    # given a contact with an email address and email consent (the fallback is checked by
    # compliance like any send), a failing SMS route and an email route
    from clarion.consent.service import ConsentIn, record_consent

    (cid_contact,) = make.contacts(["+12025550100"])
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"UPDATE contacts SET email = 'ann@example.com' WHERE id = {cid_contact}")
        )
        record_consent(
            conn, actor, [ConsentIn(cid_contact, "email", "marketing", "opted_in", "form")]
        )
    make.route("sms", priority=1)
    make.route("mail", channel="email", priority=1)
    cid = make.campaign(failover={"fallback_channel": "email"})
    launch(engine, actor, cid)
    worker = Worker(engine)
    worker.add_channel("sms", loopback("sms", worker.on_report, fail_all=True))
    mail = loopback("mail", worker.on_report)
    worker.add_channel("mail", mail)
    _drain(worker)
    # then the one message record went out by email
    with engine.connect() as conn:
        row = conn.execute(sa.select(messages)).one()
    assert (row.status, row.channel, row.destination) == ("delivered", "email", "ann@example.com")
    assert [m.to for m in mail.sent] == ["ann@example.com"]


def test_a_receipt_that_overtakes_its_submit_is_held_and_applied(
    engine: Engine, actor: Actor, make: Any, loopback: Any
) -> None:
    # given a channel whose receipt is applied before the worker has written the submit (the
    # transactional lane writes beside the bulk loop, and an SMSC may answer in a millisecond)
    make.contacts(["+12025550100", "+12025550101"])
    make.route("main")
    cid = make.campaign()
    launch(engine, actor, cid)
    worker = Worker(engine)

    class Eager(loopback):  # type: ignore[misc,valid-type]
        async def send(self, batch: Sequence[OutboundMessage]) -> list[Any]:
            out = await super().send(batch)
            worker._flush_receipts()  # the other loop flushes while this submit is unwritten
            return out

    worker.add_channel("main", Eager("main", worker.on_report))
    _drain(worker)
    # then the early receipts were held, tried again once the submits were written, and applied
    assert _statuses(engine, cid) == {"delivered": 2}
    assert worker.stats["unmatched"] == 0 and worker.stats["delivered"] == 2


def test_claiming_ahead_never_holds_more_than_a_batch_and_a_stop_gives_it_back(
    engine: Engine, actor: Actor, make: Any, loopback: Any
) -> None:
    # given 40 due messages and a worker claiming 15 at a time, sent in chunks of 5 (so it
    # claims the next batch while the last chunk of a full one is on the wire)
    make.contacts([f"+120255501{i:02d}" for i in range(40)])
    make.route("main")
    cid = make.campaign()
    launch(engine, actor, cid)
    in_sending: list[int] = []

    def count_sending(batch: Sequence[OutboundMessage]) -> None:
        in_sending.append(_statuses(engine, cid).get("sending", 0))

    worker = Worker(engine, batch_size=15, send_chunk=5)
    worker.add_channel("main", loopback("main", worker.on_report, before_send=count_sending))

    async def go() -> int:
        await worker.start()
        sent = await worker.step()
        assert worker._ahead is not None  # the next batch was claimed during the last chunk
        await worker.close()
        return sent

    # when it sends one batch and stops
    sent = asyncio.run(go())
    # then it never had more than a batch in 'sending' (what a kill -9 could leave uncertain),
    # and the batch it claimed ahead went back to the queue as if never claimed
    assert sent == 15 and max(in_sending) <= 15
    assert _statuses(engine, cid) == {"delivered": 15, "queued": 25}
    assert worker.stats["unclaimed"] == 5
    with engine.connect() as conn:
        left = conn.execute(
            sa.select(messages.c.attempts, messages.c.claim_token).where(
                messages.c.status == "queued"
            )
        ).all()
    assert {(a, t) for a, t in left} == {(0, None)}
    # and a worker started afterwards sends the rest
    again = Worker(engine, batch_size=15, send_chunk=5)
    again.add_channel("main", loopback("main", again.on_report))
    _drain(again)
    assert _statuses(engine, cid) == {"delivered": 40}


def test_a_receipt_here_before_the_write_back_is_written_with_the_submit(
    engine: Engine, actor: Actor, make: Any, loopback: Any
) -> None:
    # given a channel whose receipts come with the submit's answer (as from a fast SMSC), two
    # of them DELIVRD and one UNDELIV
    make.contacts(["+12025550100", "+12025550101", "+17775550102"])
    make.route("main")
    cid = make.campaign()
    launch(engine, actor, cid)
    worker = Worker(engine, batch_size=10, send_chunk=10)
    worker.add_channel("main", loopback("main", worker.on_report))
    # when the worker sends them
    _drain(worker)
    # then the delivered ones went from sending to delivered in the submit's write-back, with
    # their submit recorded in full; the undelivered receipt took the usual path
    assert _statuses(engine, cid) == {"delivered": 2, "failed": 1}
    assert worker.stats["delivered_with_submit"] == 2 and worker.stats["delivered"] == 2
    assert worker.stats["failed"] == 1
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                messages.c.id,
                messages.c.provider_id,
                messages.c.submitted_at,
                messages.c.delivered_at,
            ).where(messages.c.campaign_id == cid, messages.c.status == "delivered")
        ).all()
        history = {
            r.id: conn.execute(
                sa.select(message_attempts.c.result, message_attempts.c.provider_id)
                .where(message_attempts.c.message_id == r.id)
                .order_by(message_attempts.c.id)
            ).all()
            for r in rows
        }
        sends = conn.execute(
            sa.select(sa.func.count()).where(compliance_send_log.c.campaign_id == cid)
        ).scalar_one()
    for r in rows:
        assert r.provider_id and r.submitted_at is not None and r.delivered_at is not None
        # the status history keeps its order: the submit (with the part's id), then delivery
        assert [tuple(a) for a in history[r.id]] == [
            ("submitted", r.provider_id),
            ("delivered", None),
        ]
    assert sends == 3


def test_a_receipt_taken_for_a_row_that_moved_meanwhile_is_kept(
    engine: Engine, actor: Actor, make: Any
) -> None:
    # given a claimed message whose DELIVRD receipt is here, but whose row another worker
    # recovered (marked uncertain) before this one wrote the submit
    make.contacts(["+12025550100"])
    make.route("main")
    cid = make.campaign()
    launch(engine, actor, cid)
    worker = Worker(engine)
    with engine.begin() as conn:
        (c,) = dispatcher.claim(conn, worker.worker_id, connectors={"main"}, limit=5, now=utcnow())
        conn.execute(messages.update().where(messages.c.id == c.id).values(status="uncertain"))
    worker.on_report(Receipt("p-1", "DELIVRD", final=True))
    # when the worker writes the submit back
    worker._write_outcomes([(c, SendResult.submitted(str(c.id), ["p-1"]))])
    # then nothing was written, and the receipt is still waiting to be applied the usual way
    assert _statuses(engine, cid) == {"uncertain": 1}
    assert worker.stats["delivered"] == 0
    assert [r.provider_id for _, r in worker._unwritten] == ["p-1"]
