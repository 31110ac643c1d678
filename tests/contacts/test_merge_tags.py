"""Tags of a merged batch: new contacts' tags (COPYed on PostgreSQL) and stored ones' (added)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.contacts.bulk import array_text
from clarion.contacts.cleaning import CleanContact, ContactIn, clean_contact
from clarion.contacts.merge import merge_contacts
from clarion.db.types import utcnow


def _clean(index: int, **fields: object) -> CleanContact:
    record = clean_contact(ContactIn(**fields), index, "US")  # type: ignore[arg-type]
    assert not isinstance(record, list)
    return record


def _tags(engine: Engine) -> dict[str, list[str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT c.external_id, t.tag FROM contact_tags t "
                "JOIN contacts c ON c.id = t.contact_id ORDER BY c.external_id, t.tag"
            )
        )
        out: dict[str, list[str]] = {}
        for ext, tag in rows:
            out.setdefault(ext, []).append(tag)
        return out


def test_new_and_stored_contacts_get_their_tags_once(engine: Engine, workspace_id: int) -> None:
    # given a stored contact with one tag
    with engine.begin() as conn:
        merge_contacts(
            conn, workspace_id, [_clean(0, external_id="A", tags=["vip"])], source="t", now=utcnow()
        )
    # when a batch adds a tag to it, creates two people (one written twice with the same and
    # other tags), and repeats the stored contact's old tag
    batch = [
        _clean(0, external_id="A", tags=["vip", "new"]),
        _clean(1, external_id="B", phone="+12125551234", tags=["x", "y"]),
        _clean(2, external_id="B", tags=["y", "z"]),
        _clean(3, external_id="C", tags=[]),
        _clean(4, external_id="D", tags=["x"]),
    ]
    with engine.begin() as conn:
        result = merge_contacts(conn, workspace_id, batch, source="t", now=utcnow())
        again = merge_contacts(conn, workspace_id, batch, source="t", now=utcnow())
    # then every contact has the union of its tags, each once, and the re-run added nothing
    assert result.outcomes == ["unchanged", "created", "merged", "created", "created"]
    assert _tags(engine) == {"A": ["new", "vip"], "B": ["x", "y", "z"], "D": ["x"]}
    assert again.ids == result.ids
    # and the new contacts got distinct, increasing ids after the stored one
    assert result.ids[0] < result.ids[1] < result.ids[3] < result.ids[4]


def test_array_literals_round_trip_through_postgresql(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the literals are only sent to PostgreSQL; SQLite binds each value itself")
    texts = ["plain", 'quo"te', "back\\slash", "NULL", "", "comma,{brace} space", "é 李"]
    with engine.connect() as conn:
        got = conn.exec_driver_sql(
            "SELECT %s::text[], %s::bigint[]", (array_text(texts), array_text([3, 1, 2**40]))
        ).one()
    assert list(got[0]) == texts and list(got[1]) == [3, 1, 2**40]
    assert array_text([]) == "{}"
