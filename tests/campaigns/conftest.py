"""Factories for campaign and delivery tests: contacts with consent, routes, campaigns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.campaigns.models import CampaignCreate
from clarion.campaigns.service import create_campaign
from clarion.compliance.settings import set_policy
from clarion.consent.tables import consent_ledger, consent_state
from clarion.contacts.tables import contact_tags, contacts
from clarion.db.types import utcnow
from clarion.delivery.routes import RouteCreate, create_route
from clarion.workspaces.service import create_api_key


def noon_zone() -> str:
    """Return a fixed-offset zone where it is now about noon, so quiet hours never interfere."""
    off = 12 - utcnow().hour
    return "Etc/GMT" if off == 0 else (f"Etc/GMT-{off}" if off > 0 else f"Etc/GMT+{-off}")


def seed_contacts(
    engine: Engine,
    workspace_id: int,
    phones: Sequence[str | None],
    *,
    consent: str | None = "opted_in",
    region: str = "US",
    tag: str | None = None,
    timezone: str | None = "noon",
    first_id: int | None = None,
) -> list[int]:
    """Insert contacts (one per phone) with an SMS marketing consent state; return their ids."""
    now = utcnow()
    if timezone == "noon":
        timezone = noon_zone()
    rows = [
        {
            "workspace_id": workspace_id,
            "first_name": f"Ann{i}",
            "phone": p,
            "phone_region": region,
            "country": region,
            "timezone": timezone,
            "attributes": {"city": "Springfield"},
            "created_at": now,
            "updated_at": now,
        }
        for i, p in enumerate(phones)
    ]
    with engine.begin() as conn:
        ids = [
            int(r.id) for r in conn.execute(contacts.insert().returning(contacts.c.id), rows).all()
        ]
        if tag:
            conn.execute(contact_tags.insert(), [{"contact_id": i, "tag": tag} for i in ids])
        if consent:
            common = {
                "workspace_id": workspace_id,
                "channel": "sms",
                "purpose": "marketing",
                "status": consent,
            }
            ledger = conn.execute(
                consent_ledger.insert().returning(
                    consent_ledger.c.id, consent_ledger.c.contact_id, sort_by_parameter_order=True
                ),
                [
                    {
                        **common,
                        "contact_id": cid,
                        "source": "test",
                        "occurred_at": now,
                        "recorded_at": now,
                        "actor": "test",
                    }
                    for cid in ids
                ],
            ).all()
            conn.execute(
                consent_state.insert(),
                [
                    {**common, "contact_id": int(c), "ledger_id": int(lid), "since": now}
                    for lid, c in ledger
                ],
            )
    return ids


def add_route(engine: Engine, actor: Actor, name: str, **kw: Any) -> int:
    """Create a route named ``name`` (connector defaults to the name)."""
    kw.setdefault("connector", name)
    with engine.begin() as conn:
        return create_route(conn, actor, RouteCreate(name=name, **kw))


def new_campaign(engine: Engine, actor: Actor, **kw: Any) -> int:
    """Create a draft campaign with sensible defaults overridden by ``kw``."""
    spec: dict[str, Any] = {
        "name": "Spring sale",
        "audience": {"all": True},
        "variants": [
            {
                "name": "A",
                "body": "Acme: Hi {{ contact.first_name }}, 20% off today. Reply STOP to opt out",
            }
        ],
    }
    spec.update(kw)
    with engine.begin() as conn:
        return create_campaign(conn, actor, CampaignCreate.model_validate(spec))


def count_rows(engine: Engine, table: sa.Table, *where: Any) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
        )


class Factory:
    """Test data bound to one database and actor."""

    def __init__(self, engine: Engine, actor: Actor) -> None:
        self.engine = engine
        self.actor = actor
        with engine.begin() as conn:  # US first messages must name a brand
            set_policy(conn, actor, "US", {"brand": "Acme"})

    def contacts(self, phones: Sequence[str | None], **kw: Any) -> list[int]:
        return seed_contacts(self.engine, self.actor.workspace_id, phones, **kw)

    def route(self, name: str, **kw: Any) -> int:
        return add_route(self.engine, self.actor, name, **kw)

    def campaign(self, **kw: Any) -> int:
        return new_campaign(self.engine, self.actor, **kw)

    def count(self, table: sa.Table, *where: Any) -> int:
        return count_rows(self.engine, table, *where)


@pytest.fixture
def make(engine: Engine, actor: Actor) -> Factory:
    """Factories for contacts, routes and campaigns in the test database."""
    return Factory(engine, actor)


@pytest.fixture
def client(api_client: httpx.Client) -> httpx.Client:
    """The API served on a loopback port (``api_client`` in tests/conftest.py)."""
    return api_client


@pytest.fixture
def token(engine: Engine, actor: Actor) -> Callable[[list[str]], str]:
    """Return a function creating an API key with the given scopes."""

    def make_token(scopes: list[str]) -> str:
        with engine.begin() as conn:
            return create_api_key(conn, actor, "test", scopes)[1]

    return make_token
