"""Write-backs find their rows by primary key, whatever the statistics say about the state.

Each rewrite of an outbox row leaves its old version's entries in the partial status indexes
until VACUUM. When the statistics (taken while every message was queued) called 'sending' rare,
PostgreSQL read the submit write-back's batch through ``ix_messages_open`` (every dead entry of
the campaign's earlier batches included) and joined it to the batch's JSON by nested loop: the
1,000,000-message dispatch fell to 1,300 messages/s. The state is now a check on rows found by
id (``status_check``); these tests read the plans PostgreSQL chooses in that situation.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.campaigns.control import launch
from clarion.db.types import utcnow
from clarion.delivery import dispatcher
from clarion.delivery.outcomes import Submitted, record_submitted, submitted_pg_statement
from clarion.delivery.receipts import delivered_pg_statement
from clarion.delivery.tables import messages, status_check

N = 300


def _indexes(plan: Any) -> set[str]:
    """Return the names of the indexes a JSON plan (any depth) reads."""
    found: set[str] = set()
    if isinstance(plan, dict):
        if "Index Name" in plan:
            found.add(plan["Index Name"])
        for v in plan.values():
            found |= _indexes(v)
    elif isinstance(plan, list):
        for v in plan:
            found |= _indexes(v)
    return found


def _plan_indexes(engine: Engine, sql: str, params: dict[str, Any]) -> set[str]:
    """Return the indexes PostgreSQL's plan for ``sql`` reads, with sequential scans priced
    out (the outbox of a real campaign is far too big to scan for a batch)."""
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params, prepare=False)
        (plan,) = cursor.fetchone()
        conn.rollback()
    return _indexes(plan)  # psycopg reads EXPLAIN's json column as a list


@pytest.fixture
def claimed(engine: Engine, actor: Actor, make: Any) -> list[dispatcher.Claimed]:
    """A launched campaign analysed while all of it was queued, then claimed whole."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the plans read here are PostgreSQL's (SQLite writes back row by row by id)")
    make.contacts([f"+1202555{i:04d}" for i in range(N)])
    make.route("main")
    launch(engine, actor, make.campaign())
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE messages")
    with engine.begin() as conn:
        got = dispatcher.claim(conn, "w1", connectors=["main"], limit=N, now=utcnow())
    assert len(got) >= N * 0.8  # the holdout keeps the rest
    return got


def test_the_submit_write_back_finds_its_batch_by_primary_key(
    engine: Engine, claimed: list[dispatcher.Claimed]
) -> None:
    # given a claimed batch the statistics call rare ('sending' was never seen by ANALYZE)
    done = [Submitted(c.id, c.claim_token, (f"p{c.id}",), 1) for c in claimed[:100]]
    sql, params = submitted_pg_statement(done, worker_id="w1", now=utcnow(), delivered={})
    # then the outbox is read by its primary key, not through a partial status index
    used = _plan_indexes(engine, sql, params)
    assert "pk_messages" in used, used
    assert not used & {"ix_messages_open", "ix_messages_due"}, used
    # and the statement does what it says: the batch is submitted, the rest still sending
    with engine.begin() as conn:
        n, _ = record_submitted(conn, done, worker_id="w1", now=utcnow())
        states = dict(
            conn.execute(
                sa.select(messages.c.status, sa.func.count()).group_by(messages.c.status)
            ).all()
        )
    assert n == 100
    assert states["submitted"] == 100 and states["sending"] == len(claimed) - 100


def test_the_receipt_write_back_finds_its_batch_by_primary_key(
    engine: Engine, claimed: list[dispatcher.Claimed]
) -> None:
    # given a submitted batch, with 'submitted' as rare in the statistics as 'sending'
    done = [Submitted(c.id, c.claim_token, (f"p{c.id}",), 1) for c in claimed[:100]]
    with engine.begin() as conn:
        record_submitted(conn, done, worker_id="w1", now=utcnow())
    sql, params = delivered_pg_statement({d.message_id: utcnow() for d in done}, utcnow())
    # then its receipts' write-back reads the outbox by primary key too
    used = _plan_indexes(engine, sql, params)
    assert "pk_messages" in used, used
    assert not used & {"ix_messages_open", "ix_messages_due"}, used


def test_a_state_check_is_no_way_into_the_outbox(
    engine: Engine, claimed: list[dispatcher.Claimed]
) -> None:
    # given the same rare state, a SQLAlchemy statement by ids with status_check
    ids = [c.id for c in claimed[:50]]
    q = sa.select(messages.c.id).where(messages.c.id.in_(ids), status_check("sending"))
    with engine.connect() as conn:
        sql = str(q.compile(conn, compile_kwargs={"literal_binds": True}))
        # it finds exactly the rows a plain state comparison finds
        assert sorted(conn.execute(q).scalars()) == sorted(
            conn.execute(
                sa.select(messages.c.id).where(
                    messages.c.id.in_(ids), messages.c.status == "sending"
                )
            ).scalars()
        )
    # and is planned by primary key
    used = _plan_indexes(engine, sql, {})
    assert "pk_messages" in used, used
    assert not used & {"ix_messages_open", "ix_messages_due"}, used
