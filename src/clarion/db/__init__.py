"""Storage: one engine factory for SQLite and PostgreSQL, shared column types, migrations."""

from clarion.db.engine import create_engine_for, get_engine, is_postgres, is_sqlite
from clarion.db.meta import metadata

__all__ = ["create_engine_for", "get_engine", "is_postgres", "is_sqlite", "metadata"]
