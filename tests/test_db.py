"""Storage: migrations, types and the workspace/API-key basics on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor, entries
from clarion.db import migrate
from clarion.db.registry import load_all_tables
from clarion.errors import AuthError, PermissionDenied, ValidationFailed
from clarion.workspaces.service import (
    authenticate,
    create_api_key,
    ensure_workspace,
    require_scope,
    revoke_api_key,
)
from clarion.workspaces.tables import workspaces


def test_migrations_match_the_declared_tables(engine: Engine) -> None:
    # given a database migrated to every head
    # when the declared metadata is compared with it
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), load_all_tables())
    # then nothing is missing or different
    assert diff == []


def test_migrations_have_one_head() -> None:
    from alembic.script import ScriptDirectory

    # a second head means a feature branch was not merged: later migrations need one parent
    assert ScriptDirectory.from_config(migrate.alembic_config()).get_heads() == [
        "0023_contacts_write_path"
    ]


def test_migrate_is_idempotent(engine: Engine) -> None:
    before = migrate.current_revisions(engine)
    after = migrate.upgrade(engine)
    assert before == after
    assert not migrate.pending(engine)


def test_timestamps_round_trip_as_aware_utc(engine: Engine) -> None:
    t = datetime(2026, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=8)))
    with engine.begin() as conn:
        conn.execute(workspaces.insert().values(slug="x", name="X", settings={}, created_at=t))
        got = conn.execute(sa.select(workspaces.c.created_at).where(workspaces.c.slug == "x"))
        value = got.scalar_one()
    assert value == t
    assert value.tzinfo is not None and value.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(engine: Engine) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime"), engine.begin() as conn:
        conn.execute(
            workspaces.insert().values(
                slug="y",
                name="Y",
                settings={},
                created_at=datetime(2026, 1, 1),  # noqa: DTZ001
            )
        )


def test_ensure_workspace_is_idempotent(engine: Engine) -> None:
    with engine.begin() as conn:
        a = ensure_workspace(conn)
        b = ensure_workspace(conn)
        c = ensure_workspace(conn, "brand-b")
    assert a == b != c


def test_api_keys_are_hashed_scoped_and_revocable(engine: Engine, actor: Actor) -> None:
    # given a key with one scope
    with engine.begin() as conn:
        key_id, token = create_api_key(conn, actor, "shop", ["events:write"])
    # then only its hash is stored
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT key_hash FROM api_keys")).scalar_one()
        assert token not in stored
        # and it authenticates with its scopes
        who = authenticate(conn, token)
    assert who.workspace_id == actor.workspace_id and who.label == f"apikey:{key_id}"
    require_scope(who, "events:write")
    with pytest.raises(PermissionDenied):
        require_scope(who, "contacts:write")
    # when revoked, it no longer authenticates
    with engine.begin() as conn:
        revoke_api_key(conn, actor, key_id)
    with engine.connect() as conn, pytest.raises(AuthError):
        authenticate(conn, token)
    # and both changes are in the audit log
    with engine.connect() as conn:
        actions = [e.action for e in entries(conn, actor.workspace_id, object_type="api_key")]
    assert actions == ["apikey.revoke", "apikey.create"]


def test_unknown_scope_is_refused_with_the_field(engine: Engine, actor: Actor) -> None:
    with pytest.raises(ValidationFailed) as err, engine.begin() as conn:
        create_api_key(conn, actor, "k", ["contacts:write", "everything"])
    assert err.value.fields["field"] == "scopes"
    assert "everything" in str(err.value)


def test_utc_helper() -> None:
    from clarion.db.types import utcnow

    assert utcnow().tzinfo is UTC


def test_sqlite_reads_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    # given a SQLite database with a writer holding its write transaction open
    from clarion.db.engine import create_engine_for, read_only

    eng = create_engine_for(f"sqlite:///{tmp_path / 'x.db'}")
    migrate.upgrade(eng)
    with eng.begin() as writer:
        ensure_workspace(writer)
        # when a read-only connection reads meanwhile
        with read_only(eng) as reader:
            # then it answers at once (it would wait out busy_timeout with BEGIN IMMEDIATE)
            assert reader.execute(sa.select(sa.func.count()).select_from(workspaces)).scalar() == 0
    eng.dispose()


def test_cli_error_line_shows_the_code(capsys: pytest.CaptureFixture[str]) -> None:
    import typer

    from clarion.cli.common import handle_errors

    @handle_errors
    def boom() -> None:
        raise ValidationFailed("bad value", field="phone", value="12")

    with pytest.raises(typer.Exit):
        boom()
    err = capsys.readouterr().err
    assert "[validation_failed]" in err and "field='phone'" in err
