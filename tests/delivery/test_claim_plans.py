"""Claims read the due index in send_at order and stop after a batch: never every queued row.

A claim that sorts every queued row costs as much as the campaign is large, for every batch
(seconds per claim at a million rows). The planners are told which index to walk (SQLite:
``INDEXED BY``; PostgreSQL: no sort for the claim); these tests read the plans they chose.
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
from clarion.delivery.worker import TRANSACTIONAL_LANE, Worker
from clarion.sending.service import SendRequest, send_message


def _claim_plan(engine: Engine, *, claims: int, **kw: Any) -> str:
    """Run a claim, check it claimed ``claims`` messages, return the plan of its UPDATE."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().startswith("UPDATE messages"):
            seen.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        with engine.begin() as conn:
            got = dispatcher.claim(conn, "w1", connectors=["main"], limit=10, now=utcnow(), **kw)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    assert seen, "the claim ran no UPDATE"
    assert len(got) == claims
    statement, params = seen[0]
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
            return "\n".join(str(r[-1]) for r in rows)
        conn.exec_driver_sql("SET LOCAL enable_sort = off")
        rows = conn.exec_driver_sql("EXPLAIN " + statement, params).all()
        return "\n".join(str(r[0]) for r in rows)


@pytest.mark.parametrize("lane", [None, "bulk"])
def test_a_campaign_claim_walks_the_due_index_without_sorting(
    engine: Engine, actor: Actor, make: Any, lane: str | None
) -> None:
    # given a launched campaign with queued messages
    make.contacts([f"+1202555{i:04d}" for i in range(30)])
    make.route("main")
    launch(engine, actor, make.campaign())
    # when a worker claims a batch, the plan reads the partial due index and sorts nothing
    plan = _claim_plan(engine, claims=10, lane=lane)
    assert "ix_messages_due" in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


def test_a_lane_claim_walks_the_lane_index(engine: Engine, actor: Actor, make: Any) -> None:
    # given a campaign's queued messages and one send-API message in the transactional lane
    make.contacts([f"+1202555{i:04d}" for i in range(30)])
    make.route("main")
    launch(engine, actor, make.campaign())
    with engine.begin() as conn:
        send_message(conn, actor, SendRequest(to="+12025550999", text="Your code is 1234"))
    # when the lane claims, it takes just that message through the lane's own index
    plan = _claim_plan(engine, claims=1, lane=TRANSACTIONAL_LANE)
    assert "ix_messages_lane_due" in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


def test_the_lane_looks_on_one_kept_connection_and_takes_a_fresh_one_after_it_breaks(
    engine: Engine, actor: Actor, make: Any
) -> None:
    # given a worker polling the transactional lane with nothing due
    make.route("main")
    worker = Worker(engine)
    now = utcnow()
    assert not worker._lane_due(now)
    kept = worker._lane_conn
    assert kept is not None and not kept.in_transaction()  # no read left open between polls
    # when a send-API message is queued, the next look on the same connection sees it
    with engine.begin() as conn:
        send_message(conn, actor, SendRequest(to="+12025550999", text="Your code is 1234"))
    assert worker._lane_due(utcnow())
    assert worker._lane_conn is kept
    # and when that connection breaks, the failed look drops it and the next takes a new one
    dbapi = kept.connection.dbapi_connection
    assert dbapi is not None
    dbapi.close()
    with pytest.raises(sa.exc.DBAPIError):
        worker._lane_due(utcnow())
    assert worker._lane_conn is None
    assert worker._lane_due(utcnow())
    worker._drop_lane_conn()
