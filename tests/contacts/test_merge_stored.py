"""Stored contacts read back for the merge: attributes parsed from JSON text compare equal."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from clarion.contacts.cleaning import CleanContact, ContactIn, clean_contact
from clarion.contacts.merge import merge_contacts
from clarion.db.types import utcnow


def _clean(index: int, **fields: object) -> CleanContact:
    record = clean_contact(ContactIn(**fields), index, "US")  # type: ignore[arg-type]
    assert not isinstance(record, list)
    return record


def test_stored_attributes_of_every_shape_read_back_unchanged(
    engine: Engine, workspace_id: int
) -> None:
    # given contacts whose attributes hold nested values, floats, unicode, quotes, backslashes
    attrs = {"n": 2**60, "f": 1.5, "nested": {"a": [1, "李", None]}, "q": 'say "hi" \\ now'}
    batch = [
        _clean(0, external_id="A", attributes=attrs),
        _clean(1, external_id="B", attributes={"city": "Köln"}),
    ]
    with engine.begin() as conn:
        first = merge_contacts(conn, workspace_id, batch, source="t", now=utcnow())
    # when the same records are merged again, and then one with a changed attribute
    with engine.begin() as conn:
        again = merge_contacts(conn, workspace_id, batch, source="t", now=utcnow())
        changed = merge_contacts(
            conn,
            workspace_id,
            [_clean(0, external_id="B", attributes={"city": "Bonn"})],
            source="t",
            now=utcnow(),
        )
    # then nothing was rewritten the second time, and the real change was
    assert first.outcomes == ["created", "created"]
    assert again.outcomes == ["unchanged", "unchanged"] and again.ids == first.ids
    assert changed.outcomes == ["updated"] and changed.ids == [first.ids[1]]
