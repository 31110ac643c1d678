"""PostgreSQL: the merge keeps the planner's statistics of ``contacts`` current as it grows."""

from __future__ import annotations

import gc
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.contacts.cleaning import ContactIn, clean_contact
from clarion.contacts.merge import merge_contacts
from clarion.db.types import utcnow


def _reltuples(engine: Engine) -> float:
    with engine.connect() as conn:
        return float(
            conn.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE oid = 'contacts'::regclass"
            ).scalar_one()
        )


def test_a_table_that_doubled_since_its_statistics_is_analyzed_before_the_lookups(
    engine: Engine, workspace_id: int
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("planner statistics are a PostgreSQL matter")
    # given 20,000 contacts written since the table's statistics were taken (autovacuum kept
    # out of the way, or its own ANALYZE could beat the merge to it)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE contacts SET (autovacuum_enabled = false)")
    try:
        _doubled_table_is_analyzed(engine, workspace_id)
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE contacts RESET (autovacuum_enabled)")


def _live_tuples(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.exec_driver_sql(
                "SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = 'contacts'::regclass"
            ).scalar_one()
        )


def _settle_pending_statistics(engine: Engine) -> None:
    """Close every other backend of this database, so none still holds counts to publish.

    The previous test's TRUNCATE ran on a pooled backend, which publishes its counts when it
    next flushes (an idle backend may wait ten seconds). A truncation published after this
    test's INSERT sets ``n_live_tup`` back to 0 for good: seen once in CI, and reproduced by
    hand with two sessions. A backend publishes what it holds before it leaves
    ``pg_stat_activity``, so waiting for the others to go is enough.
    """
    # A connection an earlier test dropped without closing (in a reference cycle, as a
    # worker's can be) is still checked out until the collector finalises it: do that first.
    gc.collect()
    engine.dispose()
    deadline = time.monotonic() + 30
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            others = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).scalar_one()
            conn.commit()
            if others == 0:
                return
            time.sleep(0.05)
        left = conn.exec_driver_sql(
            "SELECT state, left(query, 120) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).all()
    raise AssertionError(f"other backends of the test database did not go away in 30 s: {left}")


def _doubled_table_is_analyzed(engine: Engine, workspace_id: int) -> None:
    _settle_pending_statistics(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE contacts")
        conn.exec_driver_sql(
            "INSERT INTO contacts (workspace_id, external_id, attributes, created_at, updated_at)"
            " SELECT %(ws)s, 'S' || g, '{}', now(), now() FROM generate_series(1, 20000) g",
            {"ws": workspace_id},
        )
        conn.commit()
        # The inserting backend publishes its counts when it next goes idle (PostgreSQL 15
        # otherwise holds them back up to a second): ask it to, again on every look (one ask
        # was sometimes not enough on a busy server), until they show.
        deadline = time.monotonic() + 30
        while True:
            conn.exec_driver_sql("SELECT pg_stat_force_next_flush()")
            conn.commit()
            if _live_tuples(engine) >= 20_000 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert _live_tuples(engine) >= 20_000
    assert _reltuples(engine) < 1000
    # when a batch is merged
    record = clean_contact(ContactIn(external_id="S7", first_name="Seven"), 0, "US")
    assert not isinstance(record, list)
    with engine.begin() as conn:
        result = merge_contacts(conn, workspace_id, [record], source="test", now=utcnow())
    # then the statistics were refreshed first, and the merge found the stored contact
    assert _reltuples(engine) > 15_000
    assert result.outcomes == ["updated"]
    with engine.connect() as conn:
        name = conn.execute(sa.text("SELECT first_name FROM contacts WHERE external_id = 'S7'"))
        assert name.scalar_one() == "Seven"
