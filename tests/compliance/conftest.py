"""Factories for compliance tests: contacts, consent and past sends, through the real services."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.compliance.history import SendLogRow, log_sends
from clarion.config import get_settings
from clarion.consent.service import ConsentIn, record_consent
from clarion.contacts.service import ContactIn, upsert_contacts

MakeContact = Callable[..., int]


@pytest.fixture
def make_contact(engine: Engine, actor: Actor) -> MakeContact:
    """Return a factory: a contact with ``phone`` (and optional zone), its consent, its id."""

    def make(
        phone: str,
        *,
        timezone: str | None = None,
        consent: str | None = "opted_in",
        purpose: str = "marketing",
        soft_opt_in: bool = False,
        attributes: dict[str, Any] | None = None,
    ) -> int:
        rec = ContactIn(phone=phone, timezone=timezone, attributes=attributes or {})
        with engine.begin() as conn:
            res = upsert_contacts(conn, actor, [rec])
            assert not res.rejects, res.rejects
            cid = res.ids[0]
            assert cid is not None
            if consent is not None:
                record_consent(
                    conn,
                    actor,
                    [ConsentIn(cid, "sms", purpose, consent, "form", soft_opt_in=soft_opt_in)],
                )
        return cid

    return make


@pytest.fixture
def sent_before(engine: Engine, workspace_id: int) -> Callable[[int, list[datetime]], None]:
    """Return a function recording past marketing SMS sends of a contact in the send log."""

    def add(contact_id: int, times: list[datetime], purpose: str = "marketing") -> None:
        with engine.begin() as conn:
            log_sends(
                conn,
                [SendLogRow(workspace_id, contact_id, "sms", purpose, t) for t in times],
            )

    return add


@pytest.fixture
def client(api_client: httpx.Client) -> httpx.Client:
    """The API served on a loopback port (``api_client`` in tests/conftest.py)."""
    return api_client


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
