"""Fixtures for segment tests: the API on a loopback socket, the CLI on the test database."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.config import get_settings
from clarion.workspaces.service import create_api_key


@pytest.fixture
def api(api_client: httpx.Client) -> httpx.Client:
    """The API served on a loopback port (``api_client`` in tests/conftest.py)."""
    return api_client


@pytest.fixture
def token(engine: Engine, actor: Actor) -> str:
    """An API key holding segments:read and segments:write."""
    with engine.begin() as conn:
        return create_api_key(conn, actor, "segments", ["segments:read", "segments:write"])[1]


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
