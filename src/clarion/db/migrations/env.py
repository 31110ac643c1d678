"""Alembic environment: runs on the connection that :mod:`clarion.db.migrate` hands over."""

from __future__ import annotations

from alembic import context

from clarion.db.registry import load_all_tables

target_metadata = load_all_tables()


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
