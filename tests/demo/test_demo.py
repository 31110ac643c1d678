"""The demo base: realistic, deterministic by seed, built through the real services, re-runnable."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.engine import Engine

from clarion.consent.tables import consent_ledger, consent_state
from clarion.contacts.tables import contact_identities, contacts
from clarion.db.engine import create_engine_for
from clarion.demo import generate as gen
from clarion.demo.run import DemoReport, run_demo
from clarion.events.tables import events, order_items, orders, products

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
SIZE = 300


def _run(engine: Engine, tmp: Path, seed: int = 7) -> DemoReport:
    quiet = Console(file=io.StringIO(), width=120)
    return run_demo(engine, seed=seed, contacts=SIZE, data_dir=tmp, now=NOW, console=quiet)


def _counts(engine: Engine) -> dict[str, int]:
    tables = (contacts, contact_identities, consent_ledger, products, orders, order_items, events)
    with engine.connect() as conn:
        return {
            t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in tables
        }


def _fingerprint(engine: Engine) -> list[Any]:
    """Return the data as ids-free tuples: what must be equal for equal seeds."""
    with engine.connect() as conn:
        people = conn.execute(
            sa.select(contacts.c.external_id, contacts.c.phone, contacts.c.first_name)
            .order_by(contacts.c.external_id)
        ).all()  # fmt: skip
        sold = conn.execute(
            sa.select(orders.c.external_id, orders.c.placed_at, orders.c.total, contacts.c.phone)
            .join(contacts, contacts.c.id == orders.c.contact_id)
            .order_by(orders.c.external_id)
        ).all()  # fmt: skip
        # Social activity is left out: the demo times it after each message's delivery, and
        # deliveries happen at the clock's time (receipts carry it to the minute), so two
        # runs a minute apart differ there by design.
        evs = conn.execute(
            sa.select(events.c.message_id, events.c.name, events.c.occurred_at, events.c.properties)
            .where(events.c.message_id.not_like("social:%"))
            .order_by(events.c.message_id)
        ).all()  # fmt: skip
    return [list(people), list(sold), [tuple(e) for e in evs]]


def test_the_generator_is_a_pure_function_of_the_seed() -> None:
    # when the same seed is drawn twice, and another seed once
    def draw(seed: int) -> tuple[Any, ...]:
        people = gen.people(seed, 200, NOW)
        cat = gen.catalogue(seed)
        placed = gen.orders(seed, people, cat, NOW)
        return (
            people, cat, placed, gen.contact_rows(seed, people), gen.consent(seed, people, NOW),
            list(gen.events(seed, people, cat, placed, NOW)),
        )  # fmt: skip

    # then the same seed gives identical data and another seed different data
    assert draw(3) == draw(3)
    assert draw(3)[0] != draw(4)[0]


def test_the_generated_base_looks_like_real_customers() -> None:
    people = gen.people(11, 3000, NOW)
    cat = gen.catalogue(11)
    placed = gen.orders(11, people, cat, NOW)
    rows = gen.contact_rows(11, people)
    # four countries, local spellings of numbers, Chinese names, duplicates
    assert set(Counter(p.country for p in people)) == {"CN", "US", "GB", "DE"}
    phones = [r["mobile"] for r in rows]
    for spelling in ("0086", "+86 ", "(", "+44 (0)", "07", "+49 ", "015", "017"):
        assert any(p.startswith(spelling) for p in phones), spelling
    assert any("\u4e00" <= r["first_name"] <= "\u9fff" for r in rows)
    assert len(rows) > len(people)
    # a catalogue of ~200 products in categories
    assert len(cat) == 200 and len({p.category for p in cat}) == 10
    # orders only in the last year, after signup, with Pareto spend: the top 20% of buyers
    # bring well over a third of the revenue, and many people buy more than once
    assert all(NOW.replace(year=2025) <= o.placed_at < NOW for o in placed)
    spend: Counter[int] = Counter()
    for o in placed:
        spend[o.person] += sum(li.quantity * li.unit_price / gen.FX[o.currency] for li in o.lines)
    ranked = sorted(spend.values(), reverse=True)
    assert sum(ranked[: len(ranked) // 5]) > 0.4 * sum(ranked)
    assert sum(1 for p in Counter(o.person for o in placed).values() if p > 1) > 200
    # Singles' Day is busier than an ordinary November day in China
    cn = Counter(o.placed_at.date() for o in placed if people[o.person - 1].country == "CN")
    assert cn[datetime(2026, 11, 11).date()] > 3 * cn[datetime(2026, 11, 4).date()]  # noqa: DTZ001


def test_a_small_demo_builds_the_base_and_reruns_add_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    # when a 300-contact demo runs
    report = _run(engine, tmp_path)
    counts = _counts(engine)
    steps = {r.step: r.counts for r in report.steps}
    # then every person whose row could be read is a contact, the others are in the rejects file
    imported = steps["import contacts"]["people imported"]
    social_only = steps["social"]["social-only profiles"]  # followers the SMS list lacks
    assert counts["contacts"] == imported + social_only and SIZE - 30 < imported < SIZE
    rejects_file = contacts_file_rejects(tmp_path)
    with rejects_file.open(encoding="utf-8") as f:
        assert len(list(csv.DictReader(f))) >= SIZE - imported
    # and the catalogue, orders (with items), consent histories and social handles are there
    assert counts["products"] == 200
    assert counts["orders"] == steps["orders"]["orders"] > SIZE // 2
    assert counts["order_items"] == steps["orders"]["line items"] >= counts["orders"]
    assert counts["consent_ledger"] == steps["consent"]["ledger entries"] > imported // 2
    assert counts["contact_identities"] > SIZE // 5
    with engine.connect() as conn:
        states = dict(
            conn.execute(
                sa.select(consent_state.c.status, sa.func.count())
                .where(consent_state.c.channel == "sms")
                .group_by(consent_state.c.status)
            ).all()
        )
        names = dict(
            conn.execute(sa.select(events.c.name, sa.func.count()).group_by(events.c.name)).all()
        )
    assert set(states) == {"opted_in", "opted_out", "pending"}
    assert set(names) >= {
        "signup", "page_view", "product_view", "add_to_cart", "cart_abandoned", "app_open",
        "order_completed",
    }  # fmt: skip
    assert names["signup"] == imported
    social = sum(n for name, n in names.items() if name.startswith("social_"))
    assert counts["events"] == steps["events"]["events"] + names["order_completed"] + social
    # when it runs again on the same database
    again = _run(engine, tmp_path)
    # then nothing is added
    assert _counts(engine) == counts
    assert {r.step: r.counts for r in again.steps}["events"]["events"] == 0


def contacts_file_rejects(tmp: Path) -> Path:
    files = list((tmp / "demo").glob("*.rejects.csv"))
    assert len(files) == 1
    return files[0]


def test_the_same_seed_gives_the_same_data_in_another_database(
    engine: Engine, tmp_path: Path
) -> None:
    # given the demo built in the test database and again in a separate SQLite file
    _run(engine, tmp_path / "a")
    other = create_engine_for(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        _run(other, tmp_path / "b")
        # then both hold the same people, orders and events, and the same export was written
        assert _fingerprint(engine) == _fingerprint(other)
    finally:
        other.dispose()
    a = (tmp_path / "a" / "demo").glob("*.csv")
    b = (tmp_path / "b" / "demo").glob("*.csv")
    assert [p.read_bytes() for p in sorted(a)] == [p.read_bytes() for p in sorted(b)]
