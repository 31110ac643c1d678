"""Fixtures for intelligence tests: a small synthetic shop, API keys, the CLI on the test DB."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.config import get_settings
from clarion.intelligence import sample_data, template_helpers
from clarion.workspaces.service import create_api_key

#: The synthetic shop's "now": every model runs as of this moment, so results are repeatable.
NOW = datetime(2026, 10, 1, tzinfo=UTC)


@pytest.fixture
def shop(engine: Engine, workspace_id: int) -> sample_data.Loaded:
    """A synthetic shop: 600 contacts, about 9,000 order lines over 540 days, referrals."""
    with engine.begin() as conn:
        return sample_data.synthetic(
            conn, workspace_id, n_contacts=600, n_lines=9000, n_products=300, until=NOW
        )


@pytest.fixture
def helpers(engine: Engine) -> Iterator[template_helpers.Helpers]:
    """Template helpers installed on the test database (restored afterwards)."""
    installed = template_helpers.install(engine)
    try:
        yield installed
    finally:
        template_helpers.uninstall()


@pytest.fixture
def token(engine: Engine, actor: Actor) -> str:
    """An API key for running models and reading their output."""
    scopes = ["segments:read", "segments:write", "contacts:read", "events:write"]
    with engine.begin() as conn:
        return create_api_key(conn, actor, "intel", scopes)[1]


@pytest.fixture
def cli_db(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point the ``clarion`` command line at the test database."""
    from clarion.db.engine import get_engine

    monkeypatch.setenv("CLARION_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        yield
    finally:
        get_engine().dispose()
        get_settings.cache_clear()
        template_helpers.uninstall()
