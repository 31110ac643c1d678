"""Inserting new people first (the import's path) merges exactly like looking keys up first.

Two workspaces receive the same random batches, one merged by key lookups, the other with
``insert_first``; keys are drawn from small pools so that records collide within and across
batches (shared phones and emails, different external ids, duplicates of stored people).
"""

from __future__ import annotations

import random
from typing import Any

import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from clarion.contacts.cleaning import CleanContact, ContactIn, clean_contact
from clarion.contacts.known import KnownKeys
from clarion.contacts.merge import PROFILE, merge_contacts
from clarion.contacts.tables import contact_tags, contacts
from clarion.db.types import utcnow
from clarion.workspaces.service import ensure_workspace

PHONES = [f"+1 415 23{n} 4567" for n in range(8)]
EMAILS = [f"p{n}@example.com" for n in range(8)]
EXTERNAL = [f"E{n}" for n in range(8)]


def _record(r: random.Random, index: int) -> CleanContact | None:
    def pick(pool: list[str]) -> str | None:
        return r.choice(pool) if r.random() < 0.6 else None

    fields: dict[str, Any] = {
        "external_id": pick(EXTERNAL),
        "phone": pick(PHONES),
        "email": pick(EMAILS),
        "first_name": r.choice([None, "Ann", "Bo", "Cy"]),
        "country": r.choice([None, "US", "GB"]),
        "attributes": r.choice([{}, {"a": r.randint(0, 2)}, {"b": "x\\y\tz"}]),
        "tags": r.choice([[], ["vip"], ["new", "vip"]]),
    }
    if fields["phone"] is None and fields["email"] is None:
        return None
    got = clean_contact(ContactIn(**fields), index, "US")
    return None if isinstance(got, list) else got


def _state(conn: sa.Connection, workspace_id: int) -> list[tuple[Any, ...]]:
    """Return the workspace's contacts as comparable rows (profile, attributes, tags)."""
    tags: dict[int, list[str]] = {}
    for cid, tag in conn.execute(
        sa.select(contact_tags.c.contact_id, contact_tags.c.tag)
        .join(contacts, contacts.c.id == contact_tags.c.contact_id)
        .where(contacts.c.workspace_id == workspace_id)
    ):
        tags.setdefault(cid, []).append(tag)
    rows = conn.execute(
        sa.select(contacts).where(contacts.c.workspace_id == workspace_id)
    ).mappings()
    return sorted(
        (
            tuple(row[f] or "" for f in PROFILE),
            sorted(row["attributes"].items()),
            sorted(tags.get(row["id"], [])),
        )
        for row in rows
    )


def test_insert_first_merges_like_lookups_first(engine: Engine) -> None:
    # given three empty workspaces and random batches with colliding keys
    with engine.begin() as conn:
        plain = ensure_workspace(conn, "plain")
        first = ensure_workspace(conn, "first")
        copied = ensure_workspace(conn, "copied")
    r = random.Random(20261123)
    known, copies, failures = KnownKeys(), 0, 0
    for batch_no in range(90):
        if batch_no % 15 == 0:
            # a new import: its filter knows none of the people already stored
            copies, failures = copies + known.copied, failures + known.failures
            known = KnownKeys()
        size = r.randint(1, 12) if batch_no % 3 else r.randint(20, 40)
        batch = [rec for i in range(size) if (rec := _record(r, i)) is not None]
        # when one workspace merges them by lookups, one inserting first, and one also
        # COPYing the people whose keys the import has not met yet
        with engine.begin() as conn:
            now = utcnow()
            a = merge_contacts(conn, plain, batch, source="t", now=now)
            b = merge_contacts(conn, first, batch, source="t", now=now, insert_first=True)
            c = merge_contacts(
                conn, copied, batch, source="t", now=now, insert_first=True, known=known
            )
            # then each batch has the same outcomes and the workspaces the same contacts
            for got in (b, c):
                assert (got.outcomes, got.key_conflicts) == (a.outcomes, a.key_conflicts)
                same_person = [
                    (a.ids[i] == a.ids[j], got.ids[i] == got.ids[j])
                    for i in range(len(batch))
                    for j in range(i)
                ]
                assert all(x == y for x, y in same_person), batch_no
            assert _state(conn, first) == _state(conn, plain), batch_no
            assert _state(conn, copied) == _state(conn, plain), batch_no
    with engine.connect() as conn:
        assert len(_state(conn, first)) > 5
    if engine.dialect.name == "postgresql":
        # and both ways of the plain COPY were taken: it went through, and it hit a stored key
        assert copies + known.copied > 0
        assert failures + known.failures > 0


def test_copy_lines_escape_what_copy_text_format_needs() -> None:
    from clarion.contacts.bulk import copy_line

    assert copy_line(("1", None, "plain")) == "1\t\\N\tplain\n"
    assert copy_line(("a\tb", None, "\\N", "x\ny\r")) == "a\\tb\t\\N\t\\\\N\tx\\ny\\r\n"
    assert copy_line(("back\\slash",)) == "back\\\\slash\n"


def test_the_staging_table_is_left_empty(engine: Engine, workspace_id: int) -> None:
    # given a batch of new people merged inserting first
    r = random.Random(5)
    batch = [rec for i in range(40) if (rec := _record(r, i)) is not None]
    with engine.begin() as conn:
        got = merge_contacts(conn, workspace_id, batch, source="t", now=utcnow(), insert_first=True)
        # then on PostgreSQL the temporary staging table holds nothing afterwards
        if conn.dialect.name == "postgresql":
            left = conn.exec_driver_sql("SELECT count(*) FROM pg_temp.clarion_contacts_stage")
            assert left.scalar_one() == 0
    assert "created" in got.outcomes


_COPY_VALUE = st.one_of(st.none(), st.text(alphabet=st.sampled_from("ab\\\t\n\rN é"), max_size=6))


@given(
    st.integers(min_value=1, max_value=4).flatmap(
        lambda width: st.lists(st.lists(_COPY_VALUE, min_size=width, max_size=width), max_size=6)
    ),
    st.lists(st.text(alphabet=st.sampled_from("x\\\t"), max_size=3), max_size=3),
)
def test_copy_lines_are_copy_line_of_each_row(
    rows: list[list[str | None]], tail: list[str]
) -> None:
    from clarion.contacts.bulk import copy_line, copy_lines

    # the batch builder gives exactly the per-row text, escapes or not
    assert copy_lines(rows, tail) == [copy_line((*row, *tail)) for row in rows]
