"""Import contacts from files: mapping, cleaning, merging, rejects, encodings, formats, re-runs."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor, entries
from clarion.consent.tables import consent_ledger
from clarion.contacts.service import get_contact, resolve_contacts
from clarion.contacts.tables import contacts, import_jobs
from clarion.errors import ValidationFailed
from clarion.imports.contacts import import_contacts, parse_map
from clarion.imports.pipeline import Cleaned, run_import
from clarion.imports.readers import Row

HEADER = ["Customer ID", "First Name", "Surname", "Mobile", "E-Mail", "Country", "City", "Tags"]
ROWS = [
    HEADER,
    ["C1", "Li", "Wang", "138 0013 8000", "li@example.com", "CN", "Shanghai", "vip;new"],
    ["C2", "Ann", "Smith", "(212) 555-1234", "ann@example.com", "", "NYC", ""],
    # the same person as C1 again, number written internationally: merged
    ["", "", "", "+86 138-0013-8000", "", "", "Hangzhou", "wholesale"],
    ["C3", "Max", "Muster", "0151 23456789", "max@example.de", "DE", "Köln", ""],
    ["C4", "Bad", "Number", "555-CALL-NOW", "bad@example.com", "US", "", ""],  # rejected
    ["C5", "Too", "Short", "12", "", "GB", "", ""],  # rejected
]


def _rejects(path: str | None) -> list[dict[str, str]]:
    assert path is not None
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _ids(engine: Engine, ws: int, **keys: Sequence[str]) -> dict[tuple[str, str], int]:
    with engine.connect() as conn:
        return resolve_contacts(conn, ws, **keys)


def test_a_csv_is_mapped_cleaned_merged_and_reported(
    engine: Engine, actor: Actor, write_csv: Callable[..., Path], tmp_path: Path
) -> None:
    # given a CSV with aliases for headers, a duplicate, two bad numbers and per-row countries
    path = write_csv(ROWS)
    # when it is imported (workspace default region US)
    report = import_contacts(engine, actor, path, rejects_path=tmp_path / "rej.csv")
    # then the report counts every outcome
    assert report.rows == 6
    assert report.outcomes["created"] == 3 and report.outcomes["merged"] == 1
    assert report.rejected == 2
    assert report.reasons == Counter({"phone:letters": 1, "phone:too_short": 1})
    # and the rejects file says row, field, value and reason (header is row 1)
    assert _rejects(report.rejects_path) == [
        {"row": "6", "field": "phone", "value": "555-CALL-NOW", "reason": "letters"},
        {"row": "7", "field": "phone", "value": "12", "reason": "too_short"},
    ]
    # and the contacts are clean: E.164, per-row region, custom attributes, tags
    ids = _ids(engine, actor.workspace_id, external_ids=["C1", "C2", "C3"])
    with engine.connect() as conn:
        li = get_contact(conn, actor.workspace_id, ids[("external_id", "C1")])
        ann = get_contact(conn, actor.workspace_id, ids[("external_id", "C2")])
        mx = get_contact(conn, actor.workspace_id, ids[("external_id", "C3")])
    assert (li["phone"], li["phone_type"], li["phone_region"]) == ("+8613800138000", "mobile", "CN")
    assert li["phone_timezone"] == "Asia/Shanghai"
    assert li["attributes"] == {"City": "Hangzhou"}  # the later row's value wins
    assert li["tags"] == ["new", "vip", "wholesale"]
    assert ann["phone"] == "+12125551234" and ann["country"] is None  # default region US
    assert mx["phone"] == "+4915123456789" and mx["attributes"] == {"City": "Köln"}
    # and the job is recorded and audited
    with engine.connect() as conn:
        job = conn.execute(sa.select(import_jobs)).one()
        actions = [e.action for e in entries(conn, actor.workspace_id, object_type="import_job")]
    assert job.status == "completed" and job.report["rejected"] == 2 and job.file_sha256
    assert actions == ["import.completed", "import.start"]
    assert "rows read" in str(report) and "rejected" in str(report)


def test_re_importing_the_same_file_changes_nothing(
    engine: Engine, actor: Actor, write_csv: Callable[..., Path]
) -> None:
    # given a file with consent columns, imported once
    rows = [
        [*HEADER, "sms_marketing", "consent_source", "consent_proof", "consent_at"],
        *[[*r, "yes", "shop form", "I agree", "2026-03-01"] for r in ROWS[1:]],
    ]
    path = write_csv(rows)
    first = import_contacts(engine, actor, path)
    with engine.connect() as conn:
        stamps = conn.execute(sa.select(contacts).order_by(contacts.c.id)).all()
        ledger = conn.execute(sa.select(sa.func.count()).select_from(consent_ledger)).scalar()
    # when it is imported again
    again = import_contacts(engine, actor, path)
    # then nothing was created or updated, no timestamp moved, no consent row added
    assert first.outcomes["consent_appended"] == 3
    assert again.outcomes["created"] == again.outcomes["updated"] == 0
    assert again.outcomes["unchanged"] == 3 and again.outcomes["consent_appended"] == 0
    with engine.connect() as conn:
        assert conn.execute(sa.select(contacts).order_by(contacts.c.id)).all() == stamps
        count = conn.execute(sa.select(sa.func.count()).select_from(consent_ledger)).scalar()
        li = resolve_contacts(conn, actor.workspace_id, external_ids=["C1"])[("external_id", "C1")]
        consent = get_contact(conn, actor.workspace_id, li)["consent"]
    assert count == ledger == 3
    assert [(c["channel"], c["status"], c["source"], c["proof"]) for c in consent] == [
        ("sms", "opted_in", "shop form", "I agree")
    ]


def test_duplicates_against_existing_contacts_merge_into_them(
    engine: Engine, actor: Actor, write_csv: Callable[..., Path]
) -> None:
    import_contacts(engine, actor, write_csv(ROWS))
    # when a second file names C2 by email only and adds a first name to C3 by external id
    path = write_csv(
        [
            ["email", "first_name", "external_id", "phone"],
            ["ANN@example.com", "Annie", "", ""],
            ["", "Maximilian", "C3", ""],
            ["new@example.com", "New", "", "+44 7712 345678"],
        ],
        name="more.csv",
    )
    report = import_contacts(engine, actor, path)
    assert dict(report.outcomes) == {"updated": 2, "created": 1}
    ids = _ids(engine, actor.workspace_id, external_ids=["C2", "C3"])
    with engine.connect() as conn:
        ann = get_contact(conn, actor.workspace_id, ids[("external_id", "C2")])
        mx = get_contact(conn, actor.workspace_id, ids[("external_id", "C3")])
    assert (ann["first_name"], ann["phone"]) == ("Annie", "+12125551234")
    assert (mx["first_name"], mx["last_name"]) == ("Maximilian", "Muster")


def test_a_gbk_encoded_csv_is_detected_and_decoded(
    engine: Engine, actor: Actor, write_csv: Callable[..., Path]
) -> None:
    # given a CSV saved by a Chinese-locale spreadsheet (GBK)
    rows = [["姓名", "手机", "城市", "phone"]]
    rows += [[f"王小明{i}", "", "上海市浦东新区", f"1380013{i:04d}"] for i in range(40)]
    path = write_csv(rows, encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        path.read_text(encoding="utf-8")
    # when it is imported with a Chinese default region
    report = import_contacts(engine, actor, path, default_region="CN")
    # then the encoding is reported and the text is right
    assert report.encoding == "gb18030"
    assert report.outcomes["created"] == 40 and report.rejected == 0
    with engine.connect() as conn:
        attrs = conn.execute(sa.select(contacts.c.attributes).order_by(contacts.c.id)).first()
    assert attrs is not None and attrs[0]["姓名"] == "王小明0"
    assert attrs[0]["城市"] == "上海市浦东新区"


def test_undecodable_bytes_reject_the_row_naming_the_column(
    engine: Engine, actor: Actor, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        b"email,city\r\na@example.com,Berlin\r\nb@example.com,M\xfcnchen\r\nc@example.com,Ulm\r\n"
    )
    report = import_contacts(engine, actor, path, encoding="utf-8")
    assert report.outcomes["created"] == 2
    assert _rejects(report.rejects_path) == [
        {"row": "3", "field": "city", "value": "M\ufffdnchen", "reason": "bad_encoding"}
    ]


def test_malformed_rows_are_rejects_and_accepted_rows_survive(
    engine: Engine, actor: Actor, tmp_path: Path
) -> None:
    # given a CSV with a short row, a long row, a bad consent date and a bad consent status
    path = tmp_path / "broken.csv"
    path.write_text(
        "email,first_name,sms_marketing,consent_at\n"
        "a@example.com,A,yes,2026-01-02\n"
        "b@example.com,B\n"
        "c@example.com,C,yes,2026-01-02,extra\n"
        "d@example.com,D,yes,yesterday\n"
        "e@example.com,E,perhaps,\n"
        'f@example.com,"F ""quoted""",no,2026-01-02T10:00:00+08:00\n',
        encoding="utf-8",
    )
    report = import_contacts(engine, actor, path)
    reasons = {(r["row"], r["field"], r["reason"]) for r in _rejects(report.rejects_path)}
    assert reasons == {
        ("3", "_row", "column_count"),
        ("4", "_row", "column_count"),
        ("5", "consent_at", "invalid_date"),
        ("6", "sms_marketing", "invalid_consent_status"),
    }
    assert report.outcomes["created"] == 2 and report.rejected == 4
    with engine.connect() as conn:
        names = conn.execute(sa.select(contacts.c.first_name).order_by(contacts.c.id)).scalars()
        assert list(names) == ["A", 'F "quoted"']


def test_json_lines_with_bad_lines_nested_values_and_identities(
    engine: Engine, actor: Actor, write_jsonl: Callable[[Sequence[object]], Path]
) -> None:
    path = write_jsonl(
        [
            {
                "external_id": "J1",
                "phone": "+49 30 1234567",
                "tags": ["a", "b"],
                "weibo": "@j1",
                "attributes": {"score": 7, "vip": True},
                "ltv": 12.5,
            },
            '{"external_id": "J2", "phone": ',  # broken JSON
            "[1, 2, 3]",  # not an object
            {"external_id": "J3", "email": "j3@example.com", "identity:x": "@j3"},
        ]
    )
    report = import_contacts(engine, actor, path)
    assert report.outcomes["created"] == 2
    assert [(r["row"], r["reason"].split(":")[0]) for r in _rejects(report.rejects_path)] == [
        ("2", "bad_json"),
        ("3", "not_an_object"),
    ]
    ids = _ids(engine, actor.workspace_id, external_ids=["J1", "J3"])
    with engine.connect() as conn:
        j1 = get_contact(conn, actor.workspace_id, ids[("external_id", "J1")])
        j3 = get_contact(conn, actor.workspace_id, ids[("external_id", "J3")])
    assert j1["attributes"] == {"score": 7, "vip": True, "ltv": 12.5}
    assert j1["tags"] == ["a", "b"] and j1["identities"] == {"weibo": "@j1"}
    assert j3["identities"] == {"x": "@j3"}


def test_xlsx_with_numeric_phone_cells(engine: Engine, actor: Actor, tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["phone", "country", "first_name", "orders"])
    sheet.append([13800138000, "CN", "Li", 3])  # typed as a number by the spreadsheet
    sheet.append(["07712 345678", "GB", "Jo", 1.5])
    sheet.append(["123", "US", "Bad", None])
    path = tmp_path / "contacts.xlsx"
    book.save(path)
    report = import_contacts(engine, actor, path)
    assert report.outcomes["created"] == 2 and report.rejected == 1
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(contacts.c.phone, contacts.c.attributes).order_by(contacts.c.id)
        ).all()
    assert [(r.phone, r.attributes) for r in rows] == [
        ("+8613800138000", {"orders": "3"}),
        ("+447712345678", {"orders": "1.5"}),
    ]


def test_an_explicit_map_overrides_headers(
    engine: Engine, actor: Actor, write_csv: Callable[..., Path]
) -> None:
    path = write_csv(
        [["Handy", "Kundennr", "Notiz", "Land"], ["0151 23456789", "K-1", "secret", "DE"]]
    )
    mapping = parse_map("Handy=phone, Kundennr=external_id,Notiz=ignore,Land=country")
    report = import_contacts(engine, actor, path, mapping=mapping)
    assert report.outcomes["created"] == 1
    with engine.connect() as conn:
        row = conn.execute(sa.select(contacts)).one()
    assert (row.phone, row.external_id, row.country, row.attributes) == (
        "+4915123456789",
        "K-1",
        "DE",
        {},
    )


def test_a_bad_map_or_file_is_refused_before_anything_is_written(
    engine: Engine, actor: Actor, tmp_path: Path
) -> None:
    with pytest.raises(ValidationFailed) as err:
        parse_map("Handy=telephone_number_please")
    assert err.value.fields["field"] == "map"
    with pytest.raises(ValidationFailed) as err:
        import_contacts(engine, actor, tmp_path / "absent.csv")
    assert err.value.fields["field"] == "path"
    (tmp_path / "x.pdf").write_bytes(b"%PDF")
    with pytest.raises(ValidationFailed) as err:
        import_contacts(engine, actor, tmp_path / "x.pdf")
    assert err.value.fields["field"] == "format"


def test_worker_processes_give_the_same_result_as_inline(
    engine: Engine, actor: Actor, write_csv: Callable[..., Path]
) -> None:
    # given 300 rows, one in ten a duplicate of an earlier one and one in 15 invalid
    rows: list[list[object]] = [["external_id", "phone", "country"]]
    for i in range(300):
        n = i - 7 if i % 10 == 9 else i
        rows.append([f"W{n}", "12" if i % 15 == 0 else f"+86 138 0013 {n:04d}", "CN"])
    path = write_csv(rows)
    # when imported by two worker processes in chunks of 40 rows
    report = import_contacts(engine, actor, path, workers=2, chunk_rows=40)
    # then every row is accounted for, in file order across chunks
    assert report.workers == 2
    accepted = sum(report.outcomes[k] for k in ("created", "updated", "unchanged", "merged"))
    assert report.rows == 300 and accepted + report.rejected == 300
    assert report.rejected == 20
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(contacts)).scalar()
    assert stored == report.outcomes["created"] == 250  # 300 - 20 invalid - 30 repeats


def test_a_failure_midway_keeps_the_chunks_already_written(
    engine: Engine, actor: Actor, write_csv: Callable[..., Path]
) -> None:
    from functools import partial

    from clarion.imports.contacts import ContactsConfig, clean_contacts, sink_contacts

    path = write_csv([["email"], *[[f"u{i}@example.com"] for i in range(10)]])
    calls = 0

    def failing_sink(conn: sa.Connection, actor: Actor, accepted: list[object]) -> Counter[str]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("disk full")
        return sink_contacts(conn, actor, accepted, source="test")  # type: ignore[arg-type]

    clean: Callable[[Sequence[Row]], Cleaned] = partial(
        clean_contacts, config=ContactsConfig((), "US")
    )
    with pytest.raises(RuntimeError):
        run_import(
            engine, actor, path, kind="contacts", clean=clean, sink=failing_sink, chunk_rows=4
        )
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(contacts)).scalar() == 4
        job = conn.execute(sa.select(import_jobs)).one()
    assert job.status == "failed" and "disk full" in job.report["error"]


def test_chunks_share_a_transaction_up_to_commit_rows(
    engine: Engine, actor: Actor, write_csv: Callable[..., Path]
) -> None:
    from functools import partial

    from clarion.imports.contacts import ContactsConfig, clean_contacts, sink_contacts

    # given ten rows read in chunks of two, committed every four rows, and a sink that fails
    # on the fourth chunk
    path = write_csv([["email"], *[[f"u{i}@example.com"] for i in range(10)]])
    calls = 0

    def failing_sink(conn: sa.Connection, actor: Actor, accepted: list[object]) -> Counter[str]:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise RuntimeError("disk full")
        return sink_contacts(conn, actor, accepted, source="test")  # type: ignore[arg-type]

    clean: Callable[[Sequence[Row]], Cleaned] = partial(
        clean_contacts, config=ContactsConfig((), "US")
    )
    # when the import runs
    with pytest.raises(RuntimeError):
        run_import(
            engine,
            actor,
            path,
            kind="contacts",
            clean=clean,
            sink=failing_sink,
            chunk_rows=2,
            commit_rows=4,
        )
    # then the first two chunks are kept, the third (written in the failed transaction) is not,
    # and the job's report counts only what was kept
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(contacts)).scalar() == 4
        job = conn.execute(sa.select(import_jobs)).one()
    assert job.status == "failed"
    assert job.report["rows"] == 4 and job.report["outcomes"] == {"created": 4}


def test_a_cleaning_failure_rolls_back_the_writers_open_transaction(
    engine: Engine, actor: Actor, write_csv: Callable[..., Path]
) -> None:
    from functools import partial

    from clarion.imports.contacts import ContactsConfig, clean_contacts, sink_contacts

    # given ten rows in chunks of two, committed every four rows, and a cleaner that fails on
    # the fourth chunk (in the main thread's side, while the writer thread holds the third)
    path = write_csv([["email"], *[[f"u{i}@example.com"] for i in range(10)]])
    calls = 0

    def failing_clean(rows: Sequence[Row]) -> Cleaned:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise RuntimeError("bad block")
        return clean_contacts(rows, ContactsConfig((), "US"))

    # when the import runs
    with pytest.raises(RuntimeError, match="bad block"):
        run_import(
            engine,
            actor,
            path,
            kind="contacts",
            clean=failing_clean,
            sink=partial(sink_contacts, source="test"),
            chunk_rows=2,
            commit_rows=4,
            workers=0,
        )
    # then only the first committed transaction is kept, and the job failed with the reason
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(contacts)).scalar() == 4
        job = conn.execute(sa.select(import_jobs)).one()
    assert job.status == "failed" and "bad block" in job.report["error"]
    assert job.report["rows"] == 4 and job.report["outcomes"] == {"created": 4}
