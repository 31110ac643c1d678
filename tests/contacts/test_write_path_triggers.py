"""Migration 0023: a contact's workspace and a tag's contact are kept by triggers, and the
migration itself keeps every row (on SQLite it copies ``contacts``, which others reference)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.contacts.service import ContactIn, upsert_contacts
from clarion.contacts.tables import contact_tags, contacts
from clarion.db import migrate
from clarion.db.engine import create_engine_for
from clarion.db.types import utcnow


def _count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_a_contact_naming_no_workspace_is_refused(engine: Engine, workspace_id: int) -> None:
    # given a workspace, and a statement adding one contact there and one in a missing one
    now = utcnow()
    rows = [
        {"workspace_id": ws, "external_id": f"X{ws}", "attributes": {}}
        | {"created_at": now, "updated_at": now}
        for ws in (workspace_id, workspace_id + 999)
    ]
    # when it runs, then it fails, naming the column
    refused = pytest.raises(sa.exc.DatabaseError, match=r"workspace_id names no workspace")
    with refused, engine.begin() as conn:
        conn.execute(contacts.insert(), rows)
    # and nothing of it was stored
    assert _count(engine, contacts) == 0


def test_deleting_a_contact_deletes_its_tags_only(engine: Engine, actor: Actor) -> None:
    # given two tagged contacts
    with engine.begin() as conn:
        got = upsert_contacts(
            conn,
            actor,
            [
                ContactIn(external_id="A", tags=["vip", "newsletter"]),
                ContactIn(external_id="B", tags=["vip"]),
            ],
        )
    a, b = got.ids
    assert _count(engine, contact_tags) == 3
    # when one is deleted by a plain DELETE (not through the service)
    with engine.begin() as conn:
        conn.execute(contacts.delete().where(contacts.c.id == a))
    # then its tags went with it, and the other's stayed
    with engine.connect() as conn:
        left = conn.execute(sa.select(contact_tags.c.contact_id, contact_tags.c.tag)).all()
    assert left == [(b, "vip")]


def test_upgrading_a_sqlite_database_with_data_keeps_every_row(tmp_path: Path) -> None:
    # given a SQLite database at 0022 holding a contact with a tag, consent and a message
    eng = create_engine_for(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = migrate.alembic_config()
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0022_send_path_cascades")
    now = utcnow().isoformat()
    with eng.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO workspaces (id, slug, name, default_region, timezone, settings,"
            " created_at) VALUES (1, 'w', 'W', 'US', 'UTC', '{}', ?)",
            (now,),
        )
        conn.exec_driver_sql(
            "INSERT INTO contacts (id, workspace_id, phone, attributes, created_at, updated_at)"
            " VALUES (7, 1, '+12025550100', '{}', ?, ?)",
            (now, now),
        )
        conn.exec_driver_sql("INSERT INTO contact_tags (contact_id, tag) VALUES (7, 'vip')")
        conn.exec_driver_sql(
            "INSERT INTO consent_ledger (workspace_id, contact_id, channel, purpose, status,"
            " source, soft_opt_in, occurred_at, recorded_at, actor)"
            " VALUES (1, 7, 'sms', 'marketing', 'opted_in', 'form', 0, ?, ?, 'test')",
            (now, now),
        )
    before = _dump(eng)
    # when it is upgraded to the head (the contacts table is copied on SQLite)
    migrate.upgrade(eng)
    # then every row is still there, and foreign keys are on again afterwards
    assert _dump(eng) == before
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        triggers = {
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'contacts'"
            )
        }
    assert triggers == {
        "contacts_check_workspace",
        "contacts_delete_tags",
        "contacts_delete_send_log",
    }
    eng.dispose()


def _dump(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as conn:
        return {
            t: [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {t} ORDER BY 1")]
            for t in ("workspaces", "contacts", "contact_tags", "consent_ledger")
        }
