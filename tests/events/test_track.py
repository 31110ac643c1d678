"""Track and identify: set-based ingestion, de-duplication, contact resolution, rejects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor, entries
from clarion.contacts.service import ContactIn, get_contact, upsert_contacts
from clarion.contacts.tables import contacts
from clarion.errors import NotFound, ValidationFailed
from clarion.events.service import ContactRef, TrackIn, identify, track
from clarion.events.tables import events

T0 = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def _count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _contact(engine: Engine, actor: Actor, **fields: str) -> int:
    with engine.begin() as conn:
        cid = upsert_contacts(conn, actor, [ContactIn(**fields)]).ids[0]
    assert cid is not None
    return cid


def test_a_batch_resolves_every_kind_of_reference(engine: Engine, actor: Actor) -> None:
    # given three known contacts
    a = _contact(engine, actor, external_id="crm-1")
    b = _contact(engine, actor, phone="+8613812345678")
    c = _contact(engine, actor, email="ann@example.com")
    # when events name them by id, external id, a national phone spelling and an email in capitals
    batch = [
        TrackIn(ContactRef(contact_id=a), "page_view", {"path": "/"}, T0),
        TrackIn(ContactRef(external_id="crm-1"), "app_open"),
        TrackIn(ContactRef(phone="0086 138 1234 5678"), "product_view", {"sku": "TEA-1"}, T0),
        TrackIn(ContactRef(email="ANN@Example.com"), "signup", source="web"),
    ]
    with engine.begin() as conn:
        res = track(conn, actor, batch, create_contacts=False)
    # then all four are stored against the right people
    assert (res.accepted, res.duplicates, res.rejects) == (4, 0, [])
    with engine.connect() as conn:
        rows = conn.execute(sa.select(events).order_by(events.c.id)).all()
    assert [r.contact_id for r in rows] == [a, a, b, c]
    assert [r.id for r in rows] == res.ids
    assert rows[0].occurred_at == T0 and rows[0].properties == {"path": "/"}
    assert rows[3].source == "web"
    # and events without a time are dated when received
    assert rows[1].occurred_at == rows[1].received_at


def test_message_ids_deduplicate_across_and_within_batches(engine: Engine, actor: Actor) -> None:
    # given a stored event with message id m1
    ref = ContactRef(external_id="crm-7")
    with engine.begin() as conn:
        first = track(conn, actor, [TrackIn(ref, "signup", message_id="m1")])
    assert first.accepted == 1
    # when a retried batch repeats m1, carries m2 twice and one event without an id
    batch = [
        TrackIn(ref, "signup", message_id="m1"),
        TrackIn(ref, "page_view", message_id="m2"),
        TrackIn(ref, "page_view", message_id="m2"),
        TrackIn(ref, "page_view"),
    ]
    with engine.begin() as conn:
        res = track(conn, actor, batch)
    # then only the two new events are stored and the repeats are counted as duplicates
    assert (res.accepted, res.duplicates) == (2, 2)
    assert res.ids[0] is None and res.ids[2] is None
    assert res.ids[1] is not None and res.ids[3] is not None
    assert _count(engine, events) == 3


def test_unknown_people_are_created_unless_told_not_to(engine: Engine, actor: Actor) -> None:
    # when an event names an unknown phone with creation turned off
    with engine.begin() as conn:
        res = track(
            conn, actor, [TrackIn(ContactRef(phone="+447400123456"), "x")], create_contacts=False
        )
    # then it is refused and nobody is created
    assert res.accepted == 0
    assert [(r.index, r.field, r.reason) for r in res.rejects] == [
        (0, "contact.phone", "no such contact in this workspace")
    ]
    assert _count(engine, contacts) == 0
    # when the same happens with creation on (twice in one batch)
    ref = ContactRef(phone="+44 7400 123456")
    with engine.begin() as conn:
        res = track(conn, actor, [TrackIn(ref, "x"), TrackIn(ref, "y")])
    # then one contact with the E.164 number carries both events
    assert res.accepted == 2
    with engine.connect() as conn:
        phones = conn.execute(sa.select(contacts.c.phone)).scalars().all()
        owners = set(conn.execute(sa.select(events.c.contact_id)).scalars())
    assert phones == ["+447400123456"] and len(owners) == 1


def test_invalid_events_are_refused_with_index_field_and_reason(
    engine: Engine, actor: Actor
) -> None:
    # given a batch with one good event among bad ones
    ok = ContactRef(external_id="crm-1")
    batch = [
        TrackIn(ok, ""),
        TrackIn(ContactRef(), "x"),
        TrackIn(ok, "x", occurred_at=datetime(2026, 1, 1)),  # noqa: DTZ001
        TrackIn(
            ok, "good", occurred_at=datetime(2026, 1, 1, 8, tzinfo=timezone(timedelta(hours=8)))
        ),
        TrackIn(ContactRef(phone="12"), "x"),
        TrackIn(ContactRef(contact_id=999_999), "x"),
        TrackIn(ok, "y" * 101),
    ]
    with engine.begin() as conn:
        res = track(conn, actor, batch)
    # then only the good one is stored, each refusal says where and why
    assert res.accepted == 1 and res.ids[3] is not None
    assert [(r.index, r.field) for r in res.rejects] == [
        (0, "name"),
        (1, "contact"),
        (2, "occurred_at"),
        (4, "contact.phone"),
        (5, "contact.contact_id"),
        (6, "name"),
    ]
    assert res.rejects[3].reason == "too_short"
    with engine.connect() as conn:
        at = conn.execute(sa.select(events.c.occurred_at)).scalar_one()
    assert at == datetime(2026, 1, 1, 0, tzinfo=UTC)


def test_times_compare_in_sql_like_any_other_timestamp(engine: Engine, actor: Actor) -> None:
    # given events an hour apart, one sent with a +08:00 offset
    ref = ContactRef(external_id="crm-1")
    east = timezone(timedelta(hours=8))
    batch = [
        TrackIn(ref, "a", occurred_at=T0 - timedelta(hours=1)),
        TrackIn(ref, "b", occurred_at=(T0 + timedelta(hours=1)).astimezone(east)),
        TrackIn(ref, "c", occurred_at=T0, message_id="m"),
    ]
    with engine.begin() as conn:
        track(conn, actor, batch)
    # when they are filtered and ordered by time in SQL with a bound timestamp
    with engine.connect() as conn:
        names = (
            conn.execute(
                sa.select(events.c.name)
                .where(events.c.occurred_at >= T0)
                .order_by(events.c.occurred_at.desc())
            )
            .scalars()
            .all()
        )
    # then the comparison is by instant, whatever offset the sender used
    assert names == ["b", "c"]


def test_track_writes_one_audit_entry_per_batch(engine: Engine, actor: Actor) -> None:
    ref = ContactRef(external_id="crm-1")
    with engine.begin() as conn:
        track(conn, actor, [TrackIn(ref, "a"), TrackIn(ref, "a"), TrackIn(ref, "b")])
    with engine.connect() as conn:
        logged = entries(conn, actor.workspace_id, object_type="events")
    assert len(logged) == 1
    assert logged[0].details["accepted"] == 3
    assert logged[0].details["names"] == {"a": 2, "b": 1}


def test_identify_creates_then_updates_the_profile(engine: Engine, actor: Actor) -> None:
    # when a new person is identified by external id with traits
    traits = {
        "first_name": "Lena",
        "phone": "0171 1234567",
        "country": "DE",
        "plan": "gold",
        "tags": ["vip"],
        "identities": {"mastodon": "@lena@example.social"},
    }
    with engine.begin() as conn:
        cid = identify(conn, actor, ContactRef(external_id="crm-9"), traits, message_id="i1")
    # then the profile holds the fields, the attribute, the tag and the handle
    with engine.connect() as conn:
        got = get_contact(conn, actor.workspace_id, cid)
    assert (got["first_name"], got["phone"], got["external_id"]) == (
        "Lena",
        "+491711234567",
        "crm-9",
    )
    assert got["attributes"]["plan"] == "gold"
    assert got["tags"] == ["vip"] and got["identities"] == {"mastodon": "@lena@example.social"}
    # when the same call is repeated, and then a new one updates by contact id
    with engine.begin() as conn:
        again = identify(
            conn, actor, ContactRef(external_id="crm-9"), {"plan": "x"}, message_id="i1"
        )
        later = identify(conn, actor, ContactRef(contact_id=cid), {"plan": "platinum"})
    # then the repeat changed nothing and the update landed on the same contact
    assert again == later == cid
    with engine.connect() as conn:
        got = get_contact(conn, actor.workspace_id, cid)
        kept = conn.execute(sa.select(events.c.name, events.c.message_id)).all()
    assert got["attributes"]["plan"] == "platinum"
    assert sorted(kept, key=str) == [("identify", "i1"), ("identify", None)]


def test_identify_refuses_bad_traits_and_unknown_ids(engine: Engine, actor: Actor) -> None:
    with pytest.raises(ValidationFailed) as err, engine.begin() as conn:
        identify(conn, actor, ContactRef(external_id="e"), {"email": "not-an-email"})
    assert err.value.fields["field"] == "traits.email"
    with pytest.raises(ValidationFailed) as err, engine.begin() as conn:
        identify(conn, actor, ContactRef(), {"plan": "x"})
    assert err.value.fields["field"] == "contact"
    with pytest.raises(NotFound), engine.begin() as conn:
        identify(conn, actor, ContactRef(contact_id=12345), {"plan": "x"})
    assert _count(engine, contacts) == 0
