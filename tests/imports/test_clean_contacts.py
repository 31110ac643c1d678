"""The import's cleaning of string rows by column position equals its general row mapping.

``clean_contacts`` maps CSV rows (every value a string, no undecodable bytes, no consent
columns) by position with a plan built once per header; every other row goes through
``_row_to_contact``. Both must give the same records and the same rejects, in the same order.
Rows of one header are cleaned column by column (``clean_columns``), the rows it flags again one
by one: the checks below cover both ways.
"""

from __future__ import annotations

import marshal
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clarion.contacts.cleaning import CleanContact, ConsentItem, Reject
from clarion.imports import contacts
from clarion.imports.contacts import ContactsConfig, clean_contacts, pack_cleaned, unpack_cleaned
from clarion.imports.pipeline import Cleaned
from clarion.imports.readers import Row, RowError

HEADERS = [
    "customer_id",
    "First Name",
    "surname",
    "Mobile",
    "phone",
    "E-Mail",
    "country",
    "locale",
    "tz",
    "tags",
    "labels",
    "weibo",
    "identity:crm",
    "City",
    "city",
    "Notes",
]
VALUES = [
    "",
    "  ",
    "C001",
    "x" * 201,
    "Anna",
    "+44 7712 345678",
    "(650) 253-0000",
    "13800138000",
    "12345",
    "1-800-FLOWERS",
    "ANNA@Example.COM",
    "not-an-email",
    "us",
    "DE",
    "XX",
    "en_GB",
    "e",
    "Europe/Berlin",
    "Mars/Base",
    "vip; newsletter",
    "a|b,,c",
    "bad\x01tag",
    "@anna",
    "Br\ufffdck",
    " +49 151 23456789 ",
    "wholesale|",
]


@st.composite
def chunks(draw: st.DrawFn) -> tuple[list[str], list[list[str]], dict[str, str]]:
    header = draw(st.lists(st.sampled_from(HEADERS), min_size=1, max_size=8, unique=True))
    rows = draw(
        st.lists(
            st.lists(
                st.sampled_from(VALUES) | st.text(max_size=12),
                min_size=len(header),
                max_size=len(header),
            ),
            min_size=1,
            max_size=12,
        )
    )
    mapping = draw(st.sampled_from([{}, {"Notes": "ignore"}, {"Mobile": "phone", "City": "tags"}]))
    return header, rows, mapping


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks(), st.sampled_from(["US", "GB", None]))
def test_rows_cleaned_by_position_equal_the_general_mapping(
    chunk: tuple[list[str], list[list[str]], dict[str, str]], region: str | None
) -> None:
    # given a chunk of CSV rows with any header and messy values
    header, values, mapping = chunk
    config = ContactsConfig(tuple(sorted(mapping.items())), region)
    rows = [(i + 2, dict(zip(header, v, strict=True))) for i, v in enumerate(values)]
    # when the chunk is cleaned
    got = clean_contacts(rows, config)
    # then every record and reject is what the general row mapping makes of it
    accepted, rejects = _row_by_row(rows, config)
    assert repr(got.accepted) == repr(accepted)
    assert got.rejects == rejects


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks(), st.sets(st.integers(0, 11)), st.sampled_from(["US", None]))
def test_unreadable_rows_between_rows_keep_file_order(
    chunk: tuple[list[str], list[list[str]], dict[str, str]],
    broken: set[int],
    region: str | None,
) -> None:
    # given a chunk where some rows could not be read (wrong column count)
    header, values, mapping = chunk
    config = ContactsConfig(tuple(sorted(mapping.items())), region)
    rows: list[Row] = [
        (i + 2, RowError("_row", "3 of 4 columns", "column_count"))
        if i in broken
        else (i + 2, dict(zip(header, v, strict=True)))
        for i, v in enumerate(values)
    ]
    # when the chunk is cleaned
    got = clean_contacts(rows, config)
    # then records and rejects are those of each row on its own, in file order
    accepted, rejects = _row_by_row(rows, config)
    assert repr(got.accepted) == repr(accepted)
    assert got.rejects == rejects


def _row_by_row(rows: Sequence[Row], config: ContactsConfig) -> tuple[list[Any], list[Reject]]:
    """Return what the general row mapping makes of each row on its own, in file order."""
    accepted: list[Any] = []
    rejects: list[Reject] = []
    targets: dict[Any, Any] = {}
    for number, data in rows:
        if isinstance(data, RowError):
            rejects.append(Reject(number, data.field, data.value, data.reason))
            continue
        one = contacts._row_to_contact(number, data, config, targets)
        if isinstance(one, list):
            rejects.extend(one)
        else:
            accepted.append(one)
    return accepted, rejects


def _contact(position: int, **changes: object) -> CleanContact:
    base = CleanContact(position, "C1", None, None, None, None, None, None, None, None, None,
                        None, None, {}, [], {})  # fmt: skip
    return base._replace(**changes)


def test_a_chunk_marshal_cannot_write_is_sent_whole() -> None:
    # given a record holding a value marshal cannot write, and one with consent
    at = datetime(2024, 5, 1, 12, tzinfo=UTC)
    item = ConsentItem("sms", "marketing", "opted_in", "import", None, at)
    records = [_contact(2, attributes={"when": at}), _contact(3, consent=(item,))]
    cleaned = Cleaned(list(records), [])
    # when packed
    packed = pack_cleaned(cleaned)
    # then the chunk goes as it is, its records intact
    assert isinstance(packed, Cleaned)
    assert packed.accepted == records


def test_a_packed_chunk_unpacks_to_the_same_records() -> None:
    at = datetime(2024, 5, 1, 12, tzinfo=UTC)
    item = ConsentItem("sms", "marketing", "opted_in", "import", "form 7", at)
    records = [_contact(2, tags=["vip"]), _contact(3, consent=(item,))]
    packed = pack_cleaned(Cleaned(list(records), []))
    assert isinstance(packed, bytes) and marshal.loads(packed)
    assert unpack_cleaned(packed).accepted == records
