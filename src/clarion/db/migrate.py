"""Schema migrations (Alembic), safe to run on every start.

``upgrade heads`` (not ``head``) is used so that features developed in parallel may add
migrations on separate branches; Alembic applies every branch.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    """Return an Alembic config pointing at Clarion's migrations (no ini file needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine) -> list[str]:
    """Bring the schema up to date and return the revisions applied before and after.

    On SQLite, foreign keys are switched off while the migrations run, as SQLite's own
    procedure for changing a table's schema says: a batch alter copies a table and drops the
    original, and with foreign keys on, dropping a table that others reference first deletes
    its rows, cascading to theirs. The keys are checked once the migrations are committed.
    """
    cfg = alembic_config()
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # Outside any transaction: inside one, SQLite ignores this pragma.
            _driver_execute(conn, "PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "heads")
            if sqlite:
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                conn.rollback()
                if broken:
                    raise RuntimeError(f"foreign keys broken by the migrations: {broken[:5]}")
        finally:
            if sqlite:
                _driver_execute(conn, "PRAGMA foreign_keys=ON")
    return current_revisions(engine)


def _driver_execute(conn: Connection, sql: str) -> None:
    """Run ``sql`` on the driver's connection, where SQLAlchemy begins no transaction."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql)
    finally:
        cursor.close()


def current_revisions(engine: Engine) -> list[str]:
    """Return the revisions the database is at."""
    with engine.connect() as conn:
        return sorted(MigrationContext.configure(conn).get_current_heads())


def pending(engine: Engine) -> bool:
    """Return whether migrations remain to be applied."""
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    return set(current_revisions(engine)) != heads
