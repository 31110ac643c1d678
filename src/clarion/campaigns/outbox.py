"""Write a planned chunk: its checkpoint, outbox rows, exclusions and short links, atomically.

One transaction per chunk, so a crash leaves either the whole chunk or none of it, and the
checkpoint (``campaigns.plan_after``) always names the last contact whose chunk is written.
The checkpoint UPDATE comes first: it locks the campaign row for the rest of the transaction,
so a cancel either commits before (and the chunk is not written) or waits and then recalls the
chunk's messages with the rest. It also renews the planner's lease, and writes nothing when
another planner has taken the lease over.

On PostgreSQL the rows are COPYed straight into the outbox inside a savepoint (COPY costs a
quarter of the client CPU of binding arrays). COPY cannot skip conflicts, but the chunk read
already left out everyone planned before, so a conflict means another planner raced this one:
then the savepoint is rolled back and the rows go by COPY into a temporary staging table and
move to the outbox in one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``. The direct path
saves the stage's own insert and read, about a third of the server's work per message. On
SQLite one executemany with ON CONFLICT DO NOTHING.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from psycopg.errors import UniqueViolation
from sqlalchemy.dialects import postgresql, sqlite

from clarion.campaigns.decide import MESSAGE_COLUMNS
from clarion.campaigns.tables import campaign_exclusions, campaigns
from clarion.delivery.bulk import copy_text, insert_rows

#: How long a planner's hold on a campaign lasts without a checkpoint.
LEASE_S = 60.0

_NAMES = ", ".join(n for n, _ in MESSAGE_COLUMNS)
_STAGE = "clarion_plan_stage"
_STAGE_DDL = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} ("
    + ", ".join(f"{n} {t}" for n, t in MESSAGE_COLUMNS)
    + ") ON COMMIT DELETE ROWS"
)


def checkpoint(
    conn: sa.Connection,
    campaign_id: int,
    owner: str,
    *,
    after: int,
    state: dict[str, Any],
    now: datetime,
) -> bool:
    """Record the plan's progress and renew the lease; False if the plan must stop here
    (the campaign was cancelled or completed, or another planner holds it now)."""
    res = conn.execute(
        campaigns.update()
        .where(
            campaigns.c.id == campaign_id,
            campaigns.c.plan_owner == owner,
            campaigns.c.status.not_in(("cancelled", "completed")),
        )
        .values(
            plan_after=after,
            plan_report=state,
            plan_lease_until=now + timedelta(seconds=LEASE_S),
        )
    )
    return res.rowcount == 1


def write_chunk(
    conn: sa.Connection,
    campaign_id: int,
    owner: str,
    *,
    after: int,
    state: dict[str, Any],
    now: datetime,
    rows: Sequence[tuple[Any, ...]],
    exclusions: Sequence[dict[str, Any]],
    links: Any = None,
) -> bool:
    """Write one planned chunk in the caller's transaction; False (nothing written) if the
    plan must stop (see :func:`checkpoint`)."""
    if not checkpoint(conn, campaign_id, owner, after=after, state=state, now=now):
        return False
    if rows:
        insert_messages(conn, rows)
        if links is not None:
            links.conn = conn  # the minter's rows go in this chunk's transaction
            links.flush(r[2] for r in rows)
    if exclusions:
        conn.execute(_ignore_conflicts(conn), list(exclusions))
    return True


def insert_messages(conn: sa.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert outbox rows (``MESSAGE_COLUMNS`` order); a (campaign, contact) there is skipped."""
    conflict = "ON CONFLICT (campaign_id, contact_id) DO NOTHING"
    if conn.dialect.name != "postgresql":
        insert_rows(conn, "messages", MESSAGE_COLUMNS, rows, on_conflict=conflict)
        return
    try:
        with conn.begin_nested():
            _copy(conn, "messages", rows)
        return
    except UniqueViolation:
        pass  # another planner got some of these first: skip what it wrote
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_STAGE_DDL)
        _copy(conn, _STAGE, rows)
        cursor.execute(f"INSERT INTO messages ({_NAMES}) SELECT {_NAMES} FROM {_STAGE} {conflict}")
    finally:
        cursor.close()


def _copy(conn: sa.Connection, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY {table} ({_NAMES}) FROM STDIN") as copy:
            copy.write(copy_text(MESSAGE_COLUMNS, rows))
    finally:
        cursor.close()


def _ignore_conflicts(conn: sa.Connection) -> Any:
    table = campaign_exclusions
    ins = postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
    return ins.on_conflict_do_nothing()
