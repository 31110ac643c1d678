"""Fixtures of the channel tests: the API on a loopback socket, an SMSC simulator, a config."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture
def api(api_client: httpx.Client) -> httpx.Client:
    """The API served on a loopback port (``api_client`` in tests/conftest.py)."""
    return api_client
