"""A real API server on a loopback socket with an ephemeral port, and an httpx client for it."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture
def client(api_client: httpx.Client) -> httpx.Client:
    """The API served on a loopback port (``api_client`` in tests/conftest.py)."""
    return api_client
