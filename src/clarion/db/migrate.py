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
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    """Return an Alembic config pointing at Clarion's migrations (no ini file needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine) -> list[str]:
    """Bring the schema up to date and return the revisions applied before and after."""
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")
    return current_revisions(engine)


def current_revisions(engine: Engine) -> list[str]:
    """Return the revisions the database is at."""
    with engine.connect() as conn:
        return sorted(MigrationContext.configure(conn).get_current_heads())


def pending(engine: Engine) -> bool:
    """Return whether migrations remain to be applied."""
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    return set(current_revisions(engine)) != heads
