"""Fixtures for tracking tests: the campaign factories, and an API key."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.workspaces.service import create_api_key
from tests.campaigns.conftest import Factory


@pytest.fixture
def make(engine: Engine, actor: Actor) -> Factory:
    """Factories for contacts, routes and campaigns in the test database."""
    return Factory(engine, actor)


@pytest.fixture
def token(engine: Engine, actor: Actor) -> Callable[[list[str]], str]:
    """Return a function creating an API key with the given scopes."""

    def make_token(scopes: list[str]) -> str:
        with engine.begin() as conn:
            return create_api_key(conn, actor, "test", scopes)[1]

    return make_token
