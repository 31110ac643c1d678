"""Status webhooks end to end: collected from the attempt log, signed, retried, dead, replayed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.db.types import utcnow
from clarion.delivery.tables import message_attempts, messages
from clarion.sending.service import SendRequest, get_message, send_message
from clarion.webhooks import sender
from clarion.webhooks.collector import QUEUED_CURSOR, _window, advance, collect
from clarion.webhooks.service import (
    callback_secret,
    create_endpoint,
    list_deliveries,
    replay,
)
from clarion.webhooks.signing import SignatureError, sign, verify
from clarion.webhooks.tables import webhook_cursor, webhook_deliveries


def _delivered_message(engine: Engine, actor: Actor, run_worker: Any, **kw: Any) -> dict[str, Any]:
    with engine.begin() as conn:
        msg = send_message(conn, actor, SendRequest(text="Your code is 7", **kw))

    def done() -> bool:
        with engine.connect() as conn:
            return bool(get_message(conn, actor.workspace_id, msg["id"])["status"] == "delivered")

    run_worker(engine, actor.workspace_id, done)
    return msg


def _marketing_message(
    conn: sa.Connection, actor: Actor, contact_id: int, callback_url: str
) -> dict[str, Any]:
    """Queue a send-API marketing message (a STOP withdraws it) with its own callback URL."""
    return send_message(
        conn,
        actor,
        SendRequest(
            contact_id=contact_id,
            kind="marketing",
            text="Acme: Sale today! Reply STOP to opt out",
            callback_url=callback_url,
        ),
    )


def test_status_changes_reach_the_endpoint_and_the_callback_url_signed(
    engine: Engine, actor: Actor, smsc: Any, run_worker: Any, receiver: Any
) -> None:
    # given an endpoint for every event and a message with its own callback URL
    with engine.begin() as conn:
        endpoint = create_endpoint(conn, actor, receiver.url + "/hooks", ["*"])
        receiver.secrets = {
            "/hooks": endpoint["secret"],
            "/cb": callback_secret(conn, actor.workspace_id),
        }
    msg = _delivered_message(
        engine,
        actor,
        run_worker,
        to="+12025550150",
        callback_url=receiver.url + "/cb",
        metadata={"order": "A-1"},
    )
    # when the collector and the sender run
    assert collect(engine) == 5
    assert sender.send_due(engine, "w1") == {"delivered": 5, "failed": 0}
    # then the endpoint got queued, submitted, delivered in that order, and the callback URL
    # submitted and delivered (the API's answer said queued), each signed with its own secret
    assert receiver.bad_signatures == 0
    assert receiver.events("/hooks") == ["message.queued", "message.submitted", "message.delivered"]
    assert receiver.events("/cb") == ["message.submitted", "message.delivered"]
    with engine.connect() as conn:
        cb_secret = callback_secret(conn, actor.workspace_id)
    for r in receiver.got:
        secret = endpoint["secret"] if r.path == "/hooks" else cb_secret
        verify(secret, r.headers["Clarion-Signature"], r.body)
        assert r.headers["Clarion-Event-Id"] == r.json["id"]
    data = receiver.got[-1].json["data"]
    assert data["message_id"] == msg["id"] and data["metadata"] == {"order": "A-1"}
    # and a second pass finds nothing new to send
    assert collect(engine) == 0
    assert sender.send_due(engine, "w1") == {"delivered": 0, "failed": 0}


def test_a_failing_receiver_is_retried_with_backoff_then_dead_lettered_and_replayed(
    engine: Engine, actor: Actor, smsc: Any, run_worker: Any, receiver: Any
) -> None:
    # given an endpoint for delivered events only that answers 500 every time
    with engine.begin() as conn:
        create_endpoint(conn, actor, receiver.url, ["message.delivered"])
    _delivered_message(engine, actor, run_worker, to="+12025550151")
    assert collect(engine) == 1
    receiver.answers = [500] * sender.MAX_ATTEMPTS
    now = utcnow()
    # when the sender tries: the first failure schedules a retry later, not now
    assert sender.send_due(engine, "w1", now=now) == {"delivered": 0, "failed": 1}
    assert sender.send_due(engine, "w1", now=now) == {"delivered": 0, "failed": 0}
    with engine.connect() as conn:
        (d,) = list_deliveries(conn, actor.workspace_id)
    assert d["status"] == "pending" and d["attempts"] == 1 and d["last_status"] == 500
    # and every further try waits longer, until the delivery is dead after MAX_ATTEMPTS
    for _ in range(sender.MAX_ATTEMPTS - 1):
        now += timedelta(seconds=sender.MAX_DELAY_S + 1)
        assert sender.send_due(engine, "w1", now=now)["failed"] == 1
    with engine.connect() as conn:
        (d,) = list_deliveries(conn, actor.workspace_id)
    assert d["status"] == "dead" and d["attempts"] == sender.MAX_ATTEMPTS
    assert len(receiver.got) == sender.MAX_ATTEMPTS
    # then a replay queues it again and, the receiver being back, it is delivered
    with engine.begin() as conn:
        assert replay(conn, actor, status="dead") == 1
    assert sender.send_due(engine, "w1") == {"delivered": 1, "failed": 0}
    assert len({r.json["id"] for r in receiver.got}) == 1  # the same event every time


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    import random

    rng = random.Random(7)
    delays = [sender.backoff(n, rng=rng) for n in range(1, 12)]
    for n, d in enumerate(delays, start=1):
        ceiling = min(sender.MAX_DELAY_S, sender.BASE_DELAY_S * 2 ** (n - 1))
        assert ceiling / 2 <= d <= ceiling


def test_a_delivery_left_sending_by_a_dead_worker_is_sent_after_its_lease(
    engine: Engine, actor: Actor, smsc: Any, run_worker: Any, receiver: Any
) -> None:
    # given a claimed delivery whose worker died before answering
    with engine.begin() as conn:
        create_endpoint(conn, actor, receiver.url, ["message.delivered"])
    _delivered_message(engine, actor, run_worker, to="+12025550152")
    collect(engine)
    now = utcnow()
    assert len(sender.claim(engine, "dead-worker", now=now)) == 1
    # when another worker looks before and after the lease ends
    early = sender.send_due(engine, "w2", now=now + timedelta(seconds=1))
    late = sender.send_due(engine, "w2", now=now + timedelta(seconds=sender.LEASE_S + 1))
    # then it is sent once the lease has passed, not before
    assert early == {"delivered": 0, "failed": 0} and late == {"delivered": 1, "failed": 0}


def test_the_cursor_stops_at_a_recent_gap_and_passes_an_old_one() -> None:
    now = utcnow()
    old = now - timedelta(minutes=5)
    assert advance(10, [(11, now), (12, now), (14, now), (15, now)], now) == 12
    assert advance(10, [(11, now), (13, old), (14, now)], now) == 14
    assert advance(10, [], now) == 10


def test_the_database_walk_of_the_cursor_agrees_with_advance(
    engine: Engine, actor: Actor, smsc: Any
) -> None:
    # given attempt rows with a recent gap after two contiguous ids, and an old gap further on
    now = utcnow()
    old = now - timedelta(minutes=5)
    with engine.begin() as conn:
        msg = send_message(conn, actor, SendRequest(to="+12025550160", text="Your code is 7"))
        base = int(conn.execute(sa.select(sa.func.max(message_attempts.c.id))).scalar() or 0)
        last = base + 1000
        rows = [(1, now), (2, now), (4, now), (5, now), (7, old), (8, now)]
        conn.execute(
            message_attempts.insert(),
            [
                {"id": last + i, "message_id": msg["id"], "result": "submitted", "at": at}
                for i, at in rows
            ],
        )
    # when the collector's window is computed in the database, as a whole and past the gap
    with engine.connect() as conn:
        whole = _window(conn, last, 100, now)
        past_gap = _window(conn, last + 2, 100, now)
        small = _window(conn, last, 2, now)
        none = _window(conn, last + 8, 100, now)
    # then it moves as advance() does over the same rows, and not at all past the newest row
    walk = [(last + i, at) for i, at in rows]
    assert whole == (last + 8, advance(last, walk, now)) == (last + 8, last + 2)
    assert past_gap == (last + 8, advance(last + 2, walk[2:], now)) == (last + 8, last + 2)
    assert small == (last + 2, last + 2)
    assert none == (None, last + 8)
    with engine.connect() as conn:  # the old gap alone does not stop it
        assert _window(conn, last + 4, 100, now) == (last + 8, last + 8)


def test_attempts_re_read_after_a_gap_queue_no_second_delivery(
    engine: Engine, actor: Actor, smsc: Any, run_worker: Any, receiver: Any
) -> None:
    # given collected deliveries
    with engine.begin() as conn:
        create_endpoint(conn, actor, receiver.url, ["*"])
    _delivered_message(engine, actor, run_worker, to="+12025550153")
    assert collect(engine) == 3
    # when both cursors are set back (as after a gap) and the collector runs again
    with engine.begin() as conn:
        conn.execute(webhook_cursor.update().values(last_id=0))
    assert collect(engine) == 0
    # then there are still exactly three deliveries (queued, submitted, delivered)
    with engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(webhook_deliveries)).scalar()
    assert n == 3


def test_an_endpoint_gets_only_its_event_types_and_only_after_it_was_made(
    engine: Engine, actor: Actor, smsc: Any, run_worker: Any, receiver: Any
) -> None:
    # given a message delivered before any endpoint existed
    _delivered_message(engine, actor, run_worker, to="+12025550154")
    # when an endpoint for failures is made and the collector runs
    with engine.begin() as conn:
        create_endpoint(conn, actor, receiver.url, ["message.failed"])
    # then nothing is queued for it
    assert collect(engine) == 0


def test_a_receiver_that_refuses_a_wrong_signature_gets_the_delivery_retried(
    engine: Engine, actor: Actor, smsc: Any, run_worker: Any, receiver: Any
) -> None:
    # given an endpoint whose receiver checks signatures against another secret
    with engine.begin() as conn:
        create_endpoint(conn, actor, receiver.url + "/hooks", ["message.delivered"])
    receiver.secrets = {"/hooks": "whsec_not_the_one"}
    _delivered_message(engine, actor, run_worker, to="+12025550155")
    collect(engine)
    # when the sender posts; then the receiver refuses it (401) and it is kept for a retry
    assert sender.send_due(engine, "w1") == {"delivered": 0, "failed": 1}
    assert receiver.bad_signatures == 1
    with engine.connect() as conn:
        (d,) = list_deliveries(conn, actor.workspace_id)
    assert (d["status"], d["last_status"]) == ("pending", 401)


def test_signatures_refuse_a_changed_body_an_old_timestamp_and_garbage() -> None:
    body = b'{"a":1}'
    header = sign("s3cret", body)
    assert verify("s3cret", header, body) > 0
    with pytest.raises(SignatureError, match="no v1 signature matches"):
        verify("s3cret", header, b'{"a":2}')
    with pytest.raises(SignatureError, match="tolerance"):
        verify("s3cret", sign("s3cret", body, timestamp=1_000_000), body)
    with pytest.raises(SignatureError):
        verify("s3cret", "nonsense", body)
    with pytest.raises(SignatureError):
        verify("s3cret", None, body)


def test_queued_is_an_event_of_its_own_for_the_endpoints_that_want_it(
    engine: Engine, actor: Actor, receiver: Any, make: Any
) -> None:
    # given an endpoint for queued send-API messages only, and one for every event
    make.route("sim")
    with engine.begin() as conn:
        create_endpoint(conn, actor, receiver.url + "/queued", ["message.queued"])
        create_endpoint(conn, actor, receiver.url + "/failed", ["message.failed"])
    # when a message is accepted (no worker runs: it stays queued) and the collector runs
    with engine.begin() as conn:
        msg = send_message(
            conn,
            actor,
            SendRequest(to="+12025550156", text="Order A-9 confirmed", metadata={"o": "A-9"}),
        )
    assert collect(engine) == 1
    assert sender.send_due(engine, "w1") == {"delivered": 1, "failed": 0}
    # then the queued endpoint got message.queued, with the message's data, and nobody else did
    (got,) = receiver.got
    assert got.path == "/queued" and got.json["type"] == "message.queued"
    data = got.json["data"]
    assert (data["message_id"], data["status"], data["to"], data["metadata"]) == (
        msg["id"],
        "queued",
        "+12025550156",
        {"o": "A-9"},
    )
    # and a second pass adds nothing
    assert collect(engine) == 0


def test_nobody_wanting_queued_moves_the_cursor_without_reading_messages(
    engine: Engine, actor: Actor, make: Any, receiver: Any
) -> None:
    def cursor() -> int:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(webhook_cursor.c.last_id).where(
                        webhook_cursor.c.name == QUEUED_CURSOR
                    )
                ).scalar_one()
            )

    def send(to: str) -> int:
        with engine.begin() as conn:
            return int(send_message(conn, actor, SendRequest(to=to, text="Hi"))["id"])

    # given messages and no endpoint at all
    make.route("sim")
    newest = [send(f"+1202555016{i}") for i in range(3)][-1]
    # when the collector runs, then the messages cursor jumps to the newest message
    assert collect(engine) == 0
    assert cursor() == newest
    # and a message right after it does not make the next pass write (jumps are spaced out)
    send("+12025550163")
    assert collect(engine) == 0
    assert cursor() == newest
    # when an endpoint for queued is made and another message is sent
    with engine.begin() as conn:
        create_endpoint(conn, actor, receiver.url, ["message.queued"])
    last = send("+12025550164")
    # then the collector walks on from the cursor and queues the new message's event only
    assert collect(engine) == 1
    assert cursor() == last
    with engine.connect() as conn:
        (mid,) = conn.execute(sa.select(webhook_deliveries.c.message_id)).scalars()
    assert mid == last


def test_a_stop_that_withdraws_a_queued_message_is_a_cancelled_event(
    engine: Engine, actor: Actor, receiver: Any, make: Any
) -> None:
    from clarion.inbound.effects import cancel_queued_marketing

    # given an endpoint for cancellations and a queued marketing message with a callback URL
    (ann,) = make.contacts(["+12025550157"])
    make.route("sim")
    with engine.begin() as conn:
        create_endpoint(conn, actor, receiver.url + "/hooks", ["message.cancelled"])
        msg = _marketing_message(conn, actor, ann, receiver.url + "/cb")
    assert msg["status"] == "queued"
    # when the contact's STOP withdraws it
    with engine.begin() as conn:
        assert cancel_queued_marketing(conn, actor.workspace_id, ann, "sms") == 1
    # then the endpoint and the callback URL each get message.cancelled, and the message's
    # history shows the cancellation
    assert collect(engine) == 2
    assert sender.send_due(engine, "w1") == {"delivered": 2, "failed": 0}
    assert receiver.events("/hooks") == ["message.cancelled"]
    assert receiver.events("/cb") == ["message.cancelled"]
    with engine.connect() as conn:
        got = get_message(conn, actor.workspace_id, msg["id"])
    assert got["status"] == "cancelled"


def test_a_cancelled_campaign_is_one_cancelled_event_per_recalled_message(
    engine: Engine, actor: Actor, receiver: Any, make: Any
) -> None:
    from clarion.campaigns.control import cancel, launch

    # given an endpoint for cancelled campaign messages and a launched campaign
    make.contacts([f"+1202555{i:04d}" for i in range(12)])
    make.route("main")
    with engine.begin() as conn:
        create_endpoint(conn, actor, receiver.url + "/hooks", ["campaign_message.cancelled"])
    cid = make.campaign()
    planned = launch(engine, actor, cid).planned
    # when it is cancelled before anything went out
    with engine.begin() as conn:
        cancel(conn, actor, cid, reason="wrong price")
    # then each recalled message has one campaign_message.cancelled delivery
    assert collect(engine) == planned > 0
    with engine.connect() as conn:
        events = conn.execute(sa.select(webhook_deliveries.c.event)).scalars().all()
    assert set(events) == {"campaign_message.cancelled"} and len(events) == planned


def test_a_campaign_queues_one_event_per_planned_recipient_and_none_for_its_holdout(
    engine: Engine, actor: Actor, receiver: Any, make: Any
) -> None:
    from clarion.campaigns.planner import plan_campaign

    # given endpoints for queued campaign messages and for queued send-API messages
    make.contacts([f"+1202555{i:04d}" for i in range(40)])
    make.route("main")
    with engine.begin() as conn:
        create_endpoint(conn, actor, receiver.url + "/campaign", ["campaign_message.queued"])
        create_endpoint(conn, actor, receiver.url + "/api", ["message.queued"])
    # when a campaign with a holdout group is planned and the collector runs
    cid = make.campaign(holdout_pct=25)
    report = plan_campaign(engine, actor, cid)
    assert report.holdout > 0 and report.planned > 0
    queued = collect(engine)
    # then each planned (not held out) message has one campaign_message.queued delivery
    with engine.connect() as conn:
        got = conn.execute(
            sa.select(webhook_deliveries.c.message_id, webhook_deliveries.c.event)
        ).all()
        planned = set(
            conn.execute(
                sa.select(messages.c.id).where(
                    messages.c.campaign_id == cid, messages.c.holdout.is_(False)
                )
            ).scalars()
        )
    assert queued == report.planned == len(planned)
    assert {e for _, e in got} == {"campaign_message.queued"}
    assert {m for m, _ in got} == planned


def test_with_nobody_listening_to_campaigns_only_send_api_events_are_queued(
    engine: Engine, actor: Actor, receiver: Any, make: Any
) -> None:
    from clarion.campaigns.control import cancel, launch
    from clarion.inbound.effects import cancel_queued_marketing

    # given an endpoint for send-API messages only, a cancelled campaign (an attempt row per
    # recalled message) and a withdrawn send-API message with its own callback URL
    (ann, *_) = make.contacts([f"+1202555{i:04d}" for i in range(12)])
    make.route("main")
    with engine.begin() as conn:
        create_endpoint(conn, actor, receiver.url + "/api", ["message.cancelled"])
    cid = make.campaign()
    assert launch(engine, actor, cid).planned > 0
    with engine.begin() as conn:
        cancel(conn, actor, cid, reason="wrong price")
        msg = _marketing_message(conn, actor, ann, receiver.url + "/cb")
    with engine.begin() as conn:
        assert cancel_queued_marketing(conn, actor.workspace_id, ann, "sms") == 1
    # when the collector runs, the campaign's attempts queue nothing, and the send-API
    # message's cancel reaches both the endpoint and its callback URL
    assert collect(engine) == 2
    with engine.connect() as conn:
        got = conn.execute(
            sa.select(webhook_deliveries.c.message_id, webhook_deliveries.c.event)
        ).all()
        recalled = conn.execute(
            sa.select(sa.func.count()).where(
                message_attempts.c.campaign_id == cid, message_attempts.c.result == "cancelled"
            )
        ).scalar_one()
    assert recalled > 0
    assert got == [(msg["id"], "message.cancelled")] * 2
