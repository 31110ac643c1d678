"""Contacts service: upsert with cleaning, merge precedence, duplicates, no churn, read, delete."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor, entries
from clarion.contacts.service import (
    ContactIn,
    delete_contact,
    get_contact,
    list_contacts,
    resolve_contacts,
    update_contact,
    upsert_contacts,
)
from clarion.contacts.tables import contacts
from clarion.errors import Conflict, NotFound

MESSY = [
    # (record, expected E.164 or the reject reason)
    (ContactIn(phone="138 0013 8000", country="CN"), "+8613800138000"),
    (ContactIn(phone="0049 30 1234567"), "+49301234567"),
    (ContactIn(phone="(212) 555-1234"), "+12125551234"),  # workspace default region US
    (ContactIn(phone="07712 345678", country="gb"), "+447712345678"),
    (ContactIn(phone="1-800-FLOWERS"), "letters"),
    (ContactIn(phone="12"), "too_short"),
    (ContactIn(phone="555 123 4567"), "invalid_number"),
    (ContactIn(phone="0151 23456789", country="XX"), "unknown_country"),
    (ContactIn(first_name="Nobody"), "no_identifier"),
    (ContactIn(email="not-an-email"), "invalid_email"),
]


def test_messy_numbers_are_cleaned_or_rejected_with_the_reason(
    engine: Engine, actor: Actor
) -> None:
    # given records typed by people in several countries
    records = [r for r, _ in MESSY]
    # when they are upserted
    with engine.begin() as conn:
        result = upsert_contacts(conn, actor, records)
    # then valid ones are stored in E.164 and the others come back with their reason
    reasons = {r.index: r.reason for r in result.rejects}
    with engine.connect() as conn:
        for i, (_, expected) in enumerate(MESSY):
            if expected.startswith("+"):
                cid = result.ids[i]
                assert cid is not None and i not in reasons
                assert get_contact(conn, actor.workspace_id, cid)["phone"] == expected
            else:
                assert result.ids[i] is None
                assert reasons[i] == expected
    assert result.created == 4


def test_records_sharing_a_key_in_one_call_merge_into_one_contact(
    engine: Engine, actor: Actor
) -> None:
    # given two spellings of one phone and an email seen later with the same phone
    records = [
        ContactIn(phone="+86 138 0013 8000", first_name="Li", attributes={"tier": "gold"}),
        ContactIn(phone="13800138000", country="CN", email="LI@Example.com", last_name="Wang"),
        ContactIn(email="li@example.com", first_name="Lee", attributes={"city": "Hangzhou"}),
    ]
    with engine.begin() as conn:
        result = upsert_contacts(conn, actor, records)
    # then one contact, later non-empty values win, attributes merge
    assert result.created == 1 and result.merged == 2
    assert len(set(result.ids)) == 1
    with engine.connect() as conn:
        c = get_contact(conn, actor.workspace_id, result.ids[0] or 0)
    assert (c["first_name"], c["last_name"], c["email"]) == ("Lee", "Wang", "li@example.com")
    assert c["attributes"] == {"tier": "gold", "city": "Hangzhou"}


def test_external_id_outranks_phone_and_phone_outranks_email(engine: Engine, actor: Actor) -> None:
    # given three stored people
    with engine.begin() as conn:
        ids = upsert_contacts(
            conn,
            actor,
            [
                ContactIn(external_id="C1", first_name="Ann"),
                ContactIn(phone="+4915123456789", first_name="Bob"),
                ContactIn(email="cy@example.com", first_name="Cy"),
            ],
        ).ids
    # when a record carries C1 and Bob's phone, and later one Bob's phone and Cy's email
    with engine.begin() as conn:
        first = upsert_contacts(
            conn, actor, [ContactIn(external_id="C1", phone="+4915123456789", last_name="X")]
        )
    with engine.begin() as conn:
        second = upsert_contacts(
            conn, actor, [ContactIn(phone="+4915123456789", email="cy@example.com", last_name="Y")]
        )
    # then the first goes to C1 (Bob keeps his phone), the second to Bob (Cy keeps her email)
    assert (first.ids, second.ids) == ([ids[0]], [ids[1]])
    assert first.key_conflicts == second.key_conflicts == 1
    with engine.connect() as conn:
        ann = get_contact(conn, actor.workspace_id, ids[0] or 0)
        bob = get_contact(conn, actor.workspace_id, ids[1] or 0)
        cy = get_contact(conn, actor.workspace_id, ids[2] or 0)
    assert (ann["last_name"], ann["phone"]) == ("X", None)
    assert (bob["last_name"], bob["phone"], bob["email"]) == ("Y", "+4915123456789", None)
    assert cy["email"] == "cy@example.com" and cy["last_name"] is None


def test_upserting_the_same_records_again_changes_nothing(engine: Engine, actor: Actor) -> None:
    records = [
        ContactIn(phone="+8613800138000", first_name="Li", tags=["vip"], attributes={"n": 1}),
        ContactIn(email="a@example.com", identities={"weibo": "@a"}),
    ]
    with engine.begin() as conn:
        first = upsert_contacts(conn, actor, records)
    with engine.connect() as conn:
        stamps = conn.execute(sa.select(contacts.c.id, contacts.c.updated_at)).all()
    # when the same records come again (empty values never erase)
    with engine.begin() as conn:
        again = upsert_contacts(conn, actor, [*records, ContactIn(email="a@example.com")])
    # then everything is unchanged and no timestamp moved
    assert first.created == 2
    assert (again.created, again.updated, again.unchanged, again.merged) == (0, 0, 2, 1)
    with engine.connect() as conn:
        assert conn.execute(sa.select(contacts.c.id, contacts.c.updated_at)).all() == stamps


def test_a_changed_value_updates_and_bumps_updated_at(engine: Engine, actor: Actor) -> None:
    with engine.begin() as conn:
        cid = upsert_contacts(conn, actor, [ContactIn(external_id="E1", first_name="A")]).ids[0]
        before = get_contact(conn, actor.workspace_id, cid or 0)["updated_at"]
    with engine.begin() as conn:
        res = upsert_contacts(conn, actor, [ContactIn(external_id="E1", first_name="B")])
        after = get_contact(conn, actor.workspace_id, cid or 0)
    assert res.updated == 1 and after["first_name"] == "B" and after["updated_at"] > before


def test_get_resolve_list_update_and_delete(engine: Engine, actor: Actor) -> None:
    with engine.begin() as conn:
        res = upsert_contacts(
            conn,
            actor,
            [
                ContactIn(external_id="X9", phone="+12125551234", tags=["a", "b"]),
                ContactIn(email="z@example.com"),
            ],
        )
    a, b = res.ids
    assert a is not None and b is not None
    with engine.connect() as conn:
        found = resolve_contacts(
            conn,
            actor.workspace_id,
            external_ids=["X9", "nope"],
            phones=["+12125551234"],
            emails=["Z@example.com"],
        )
        assert found == {
            ("external_id", "X9"): a,
            ("phone", "+12125551234"): a,
            ("email", "z@example.com"): b,
        }
        assert [c["id"] for c in list_contacts(conn, actor.workspace_id, limit=1)] == [a]
        assert [c["id"] for c in list_contacts(conn, actor.workspace_id, after_id=a)] == [b]
        assert get_contact(conn, actor.workspace_id, a)["tags"] == ["a", "b"]
    # an edit may not take another contact's key
    with pytest.raises(Conflict) as err, engine.begin() as conn:
        update_contact(conn, actor, a, ContactIn(email="z@example.com"))
    assert err.value.fields["field"] == "email" and err.value.fields["owner"] == b
    with engine.begin() as conn:
        updated = update_contact(conn, actor, a, ContactIn(first_name="Al", tags=["c"]))
    assert updated["first_name"] == "Al" and updated["tags"] == ["a", "b", "c"]
    with engine.begin() as conn:
        delete_contact(conn, actor, a)
    with engine.connect() as conn, pytest.raises(NotFound):
        get_contact(conn, actor.workspace_id, a)
    with engine.connect() as conn:
        actions = [e.action for e in entries(conn, actor.workspace_id, object_type="contact")]
    assert actions[:3] == ["contact.delete", "contact.update", "contacts.upsert"]


def test_another_workspace_cannot_see_or_delete_a_contact(engine: Engine, actor: Actor) -> None:
    from clarion.workspaces.service import ensure_workspace

    with engine.begin() as conn:
        cid = upsert_contacts(conn, actor, [ContactIn(email="p@example.com")]).ids[0]
        other = Actor(ensure_workspace(conn, "brand-b"), "cli", "t")
    with pytest.raises(NotFound), engine.begin() as conn:
        delete_contact(conn, other, cid or 0)
    with pytest.raises(NotFound), engine.connect() as conn:
        get_contact(conn, other.workspace_id, cid or 0)


def test_different_external_ids_are_different_people_even_with_one_phone(
    engine: Engine, actor: Actor
) -> None:
    # given a stored customer C1 with a phone
    with engine.begin() as conn:
        c1 = upsert_contacts(conn, actor, [ContactIn(external_id="C1", phone="+8613800138000")])
    # when customer C2 arrives with the same phone (a shared family phone, a data error), once in
    # a later call and once in the same call as a third customer C3 with it too
    with engine.begin() as conn:
        c2 = upsert_contacts(conn, actor, [ContactIn(external_id="C2", phone="+8613800138000")])
        c3 = upsert_contacts(
            conn,
            actor,
            [
                ContactIn(external_id="C3", email="c3@example.com"),
                ContactIn(external_id="C4", email="c3@example.com", first_name="Four"),
            ],
        )
    # then each external id is its own contact; the shared key stays with its first owner
    assert c2.created == 1 and c2.key_conflicts == 1 and c2.ids != c1.ids
    assert c3.created == 2 and c3.key_conflicts == 1
    with engine.connect() as conn:
        found = resolve_contacts(
            conn,
            actor.workspace_id,
            external_ids=["C1", "C2", "C3", "C4"],
            phones=["+8613800138000"],
        )
        c4 = get_contact(conn, actor.workspace_id, found[("external_id", "C4")])
    assert found[("phone", "+8613800138000")] == found[("external_id", "C1")]
    assert (c4["email"], c4["first_name"]) == (None, "Four")
    # and doing it all again changes nothing
    with engine.begin() as conn:
        again = upsert_contacts(
            conn,
            actor,
            [
                ContactIn(external_id="C1", phone="+8613800138000"),
                ContactIn(external_id="C2", phone="+8613800138000"),
                ContactIn(external_id="C3", email="c3@example.com"),
                ContactIn(external_id="C4", email="c3@example.com", first_name="Four"),
            ],
        )
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
