"""The templates API served on a loopback socket (ephemeral port) with an authorised client."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.workspaces.service import create_api_key


@pytest.fixture
def api(api_client: httpx.Client) -> httpx.Client:
    """The API served on a loopback port (``api_client`` in tests/conftest.py)."""
    return api_client


def bearer(engine: Engine, actor: Actor, *scopes: str) -> dict[str, str]:
    """Return the Authorization header of a new API key holding ``scopes``."""
    with engine.begin() as conn:
        _, token = create_api_key(conn, actor, "test", list(scopes))
    return {"Authorization": f"Bearer {token}"}
