"""Group commit of sends (clarion.sending.group) and statements run on the DBAPI cursor
(clarion.db.prepared): many sends in one transaction, each answered with its own outcome."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.compliance.engine import _ONE, recipient_inputs
from clarion.compliance.suppression import SuppressionIn, add_suppressions
from clarion.db.types import utcnow
from clarion.delivery.tables import messages
from clarion.errors import ClarionError
from clarion.sending import service
from clarion.sending.group import GroupWriter
from clarion.sending.service import Enqueued, SendRequest


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(messages)).scalar_one())


@pytest.fixture
def commits(engine: Engine) -> Iterator[list[int]]:
    """Count the transactions committed on ``engine`` while the test runs."""
    seen: list[int] = []

    def on_commit(_conn: Any) -> None:
        seen.append(1)

    sa.event.listen(engine, "commit", on_commit)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "commit", on_commit)


def _in_one_group(writer: GroupWriter, works: list[Callable[[sa.Connection], Any]]) -> list[Any]:
    """Run ``works`` so that they form one group: a first work holds the writer until every
    other one is queued. Return each work's result or exception, in order."""
    started, release = threading.Event(), threading.Event()

    def blocker(_conn: sa.Connection) -> None:
        started.set()
        assert release.wait(20)

    async def go() -> list[Any]:
        first = asyncio.ensure_future(writer.run(blocker))
        while not started.is_set():
            await asyncio.sleep(0.005)
        tasks = [asyncio.ensure_future(writer.run(w)) for w in works]
        while writer.pending() < len(works):
            await asyncio.sleep(0.005)
        release.set()
        await first
        return await asyncio.gather(*tasks, return_exceptions=True)

    return asyncio.run(go())


def _send(actor: Actor, i: int, **kw: Any) -> Callable[[sa.Connection], Enqueued]:
    req = SendRequest(to=f"+1202555{i:04d}", text=f"Your code is {i}", **kw)
    return partial(service.enqueue, actor=actor, req=req)


def test_sends_queued_together_share_one_commit_and_each_gets_its_own_message(
    engine: Engine, actor: Actor, make: Any, commits: list[int]
) -> None:
    # given a route and 20 sends queued behind a busy writer
    make.route("main")
    writer = GroupWriter(engine, writers=1)
    commits.clear()
    # when the writer takes them
    out = _in_one_group(writer, [_send(actor, i) for i in range(20)])
    # then each is answered with its own new message, all rows are there, in two commits
    # (the blocker's group and the twenty's)
    assert all(isinstance(o, Enqueued) and o.created for o in out), out
    assert len({o.message["id"] for o in out}) == 20
    assert [o.message["to"] for o in out] == [f"+1202555{i:04d}" for i in range(20)]
    assert _count(engine) == 20
    assert len(commits) == 2


def test_a_refused_send_in_a_group_is_answered_with_its_error_and_the_others_go(
    engine: Engine, actor: Actor, make: Any, commits: list[int]
) -> None:
    # given a suppressed number among five sends
    make.route("main")
    with engine.begin() as conn:
        add_suppressions(conn, actor, [SuppressionIn(value="+12025550002", reason="complaint")])
    writer = GroupWriter(engine, writers=1)
    commits.clear()
    # when they go in one group
    out = _in_one_group(writer, [_send(actor, i) for i in range(5)])
    # then the suppressed one is refused, the four others are queued, still in one commit
    assert isinstance(out[2], service.SendRefused)
    assert [isinstance(o, Enqueued) for o in out] == [True, True, False, True, True]
    assert _count(engine) == 4
    assert len(commits) == 2


def test_a_failing_statement_in_a_group_fails_only_its_own_send(
    engine: Engine, actor: Actor, make: Any
) -> None:
    # given a group where one work breaks the transaction with a database error
    make.route("main")
    writer = GroupWriter(engine, writers=1)

    def broken(conn: sa.Connection) -> None:
        conn.execute(sa.text("INSERT INTO messages (id, workspace_id) VALUES (NULL, NULL)"))

    works = [_send(actor, 0), _send(actor, 1), broken, _send(actor, 3)]
    # when the group runs
    out = _in_one_group(writer, works)
    # then that work gets its error, and the others are committed, each once
    assert isinstance(out[2], sa.exc.DBAPIError)
    assert [isinstance(o, Enqueued) for o in out] == [True, True, False, True]
    assert _count(engine) == 3


def test_one_idempotency_key_twice_in_a_group_makes_one_message(
    engine: Engine, actor: Actor, make: Any
) -> None:
    # given the same keyed request twice, and the key with another text, in one group
    make.route("main")
    writer = GroupWriter(engine, writers=1)
    works = [
        _send(actor, 7, idempotency_key="k-1"),
        _send(actor, 7, idempotency_key="k-1"),
        partial(
            service.enqueue,
            actor=actor,
            req=SendRequest(to="+12025550007", text="other", idempotency_key="k-1"),
        ),
    ]
    # when it runs
    out = _in_one_group(writer, works)
    # then the first creates it, the second gets it back, the third is a conflict
    assert isinstance(out[0], Enqueued) and out[0].created
    assert isinstance(out[1], Enqueued) and not out[1].created
    assert out[1].message["id"] == out[0].message["id"]
    assert isinstance(out[2], ClarionError) and out[2].code == "idempotency_conflict"
    assert _count(engine) == 1


def test_an_answer_means_the_row_is_committed(engine: Engine, actor: Actor, make: Any) -> None:
    # given a send through the writer from a plain thread
    make.route("main")
    writer = GroupWriter(engine, writers=2)
    # when it is answered
    out = writer.run_sync(_send(actor, 5))
    # then another connection already sees its row
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(messages.c.destination).where(messages.c.id == out.message["id"])
        ).scalar_one()
    assert found == "+12025550005"


def test_the_prepared_recipient_query_reads_what_sqlalchemy_reads(
    engine: Engine, actor: Actor, make: Any
) -> None:
    # given a contact with attributes and a suppressed number
    [cid] = make.contacts(["+12025550111"])
    with engine.begin() as conn:
        add_suppressions(conn, actor, [SuppressionIn(value="+12025550111", reason="complaint")])
    at = utcnow()
    params = {"ws": actor.workspace_id, "value": cid, "purpose": "marketing", "at": at}
    with engine.connect() as conn:
        # when it is read through the DBAPI cursor and through Connection.execute
        fast = recipient_inputs(conn, actor.workspace_id, "sms", "marketing", at, value=cid)
        slow = conn.execute(_ONE[("sms", "id")].statement, params).mappings().first()
    # then both give the same keys, values and types
    assert slow is not None and fast is not None
    assert fast == dict(slow)
    assert {k: type(v) for k, v in fast.items()} == {k: type(v) for k, v in slow.items()}
    assert fast["suppression"] == "complaint"


def test_the_prepared_insert_stores_what_sqlalchemy_reads_back(
    engine: Engine, actor: Actor, make: Any
) -> None:
    # given a send with metadata, a validity and a cost
    make.route("main", price_per_part=Decimal("0.0075"))
    req = SendRequest(
        to="+12025550123",
        text="Ünïcode and {{ order.id }}",
        variables={"order": {"id": "A-1"}},
        validity=timedelta(seconds=600),
        metadata={"order": "A-1", "n": [1, 2]},
    )
    # when it is enqueued (the insert runs on the cursor)
    with engine.begin() as conn:
        out = service.enqueue(conn, actor, req)
    # then the stored row, read by SQLAlchemy, is what the send answered
    with engine.connect() as conn:
        row = conn.execute(sa.select(messages).where(messages.c.id == out.message["id"])).one()
    assert row.meta == {"order": "A-1", "n": [1, 2]}
    assert row.body == "Ünïcode and A-1"
    assert row.send_at.tzinfo is not None
    assert row.valid_until - row.send_at == timedelta(seconds=600)
    assert float(row.cost) == pytest.approx(out.message["cost"])
    assert row.send_at.isoformat() == out.message["send_at"]


def test_a_writer_whose_connection_was_killed_sends_on_a_new_one(
    engine: Engine, actor: Actor, make: Any
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("a server-side connection to kill is PostgreSQL's")
    # given a writer that has sent once and holds its connection
    make.route("main")
    writer = GroupWriter(engine, writers=1)
    writer.run_sync(_send(actor, 1))
    pid = writer.run_sync(lambda conn: conn.execute(sa.text("SELECT pg_backend_pid()")).scalar())
    # when the server ends that connection
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    # then the next sends still go (on fresh connections), each stored once
    out = [writer.run_sync(_send(actor, i)) for i in (2, 3)]
    assert all(o.created for o in out)
    assert _count(engine) == 3
    assert writer.run_sync(lambda c: c.execute(sa.text("SELECT pg_backend_pid()")).scalar()) != pid
