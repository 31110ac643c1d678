"""The demo's first steps: build the synthetic customer base through the real services.

Each step takes the shared ``DemoContext``, does one thing through the same service functions
the API and the importer use, and returns what it did. Every write is idempotent (external ids,
order ids, message ids, consent only when it changes), so running the demo twice on the same
database adds nothing the second time.
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.demo import generate as gen
from clarion.demo.people import Person
from clarion.events.models import ContactRef, TrackIn
from clarion.events.orders import LineItemIn, OrderIn, ingest_orders
from clarion.events.products import ProductIn, upsert_products
from clarion.events.service import track

ORDER_CHUNK = 2_000
EVENT_CHUNK = 20_000
#: Columns the importer would not map on its own.
IMPORT_MAPPING = {
    "signup_date": "attribute:signup_date",
    "bluesky": "identity:bluesky",
    "mastodon": "identity:mastodon",
}
SOCIAL = ("weibo", "wechat", "x", "mastodon", "bluesky")


@dataclass
class StepResult:
    """What one step did: counts by what was written, and how long it took."""

    step: str
    counts: dict[str, int]
    seconds: float = 0.0


@dataclass
class DemoContext:
    """Inputs of a demo run and what earlier steps left for later ones."""

    engine: Engine
    actor: Actor
    seed: int
    size: int
    now: datetime
    data_dir: Path
    console: Console
    people: list[Person] = field(default_factory=list)
    products: list[gen.Product] = field(default_factory=list)
    orders: list[gen.Order] = field(default_factory=list)
    contact_ids: dict[int, int] = field(default_factory=dict)  # Person.n -> contact id
    extras: dict[str, Any] = field(default_factory=dict)  # for steps added by later features


Step = Callable[[DemoContext], StepResult]


def plan_people(ctx: DemoContext) -> StepResult:
    """Draw the people, the catalogue and the year of orders (in memory, from the seed)."""
    ctx.people = gen.people(ctx.seed, ctx.size, ctx.now)
    ctx.products = gen.catalogue(ctx.seed)
    ctx.orders = gen.orders(ctx.seed, ctx.people, ctx.products, ctx.now)
    by_country = Counter(p.country for p in ctx.people)
    return StepResult("plan", {f"people {c}": n for c, n in sorted(by_country.items())})


def contacts_file(ctx: DemoContext) -> Path:
    """Return where the demo's contacts export is written."""
    return ctx.data_dir / "demo" / f"contacts-seed{ctx.seed}-{ctx.size}.csv"


def write_contacts_file(ctx: DemoContext) -> StepResult:
    """Write the messy CRM export the import step reads (social handles as columns)."""
    rows = gen.contact_rows(ctx.seed, ctx.people)
    handles = {p.external_id: p.handles for p in ctx.people}
    path = contacts_file(ctx)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.DictWriter(f, [*gen.CSV_COLUMNS, *SOCIAL])
        out.writeheader()
        for row in rows:
            out.writerow({**row, **handles[row["customer_id"]]})
    ctx.extras["contacts_file"] = str(path)
    return StepResult("contacts file", {"rows written": len(rows)})


def import_contacts_file(ctx: DemoContext) -> StepResult:
    """Import the export with the real importer, show its cleaning report, map people to ids."""
    from clarion.contacts.service import resolve_contacts
    from clarion.imports.contacts import import_contacts

    path = contacts_file(ctx)
    report = import_contacts(
        ctx.engine,
        ctx.actor,
        path,
        mapping=IMPORT_MAPPING,
        rejects_path=path.with_suffix(".rejects.csv"),
    )
    ctx.console.print(str(report), highlight=False)
    with ctx.engine.connect() as conn:
        found = resolve_contacts(
            conn, ctx.actor.workspace_id, external_ids=[p.external_id for p in ctx.people]
        )
    ctx.contact_ids = {
        p.n: found[("external_id", p.external_id)]
        for p in ctx.people
        if ("external_id", p.external_id) in found
    }
    counts = {k: int(v) for k, v in sorted(report.outcomes.items())}
    counts["rows read"] = report.rows
    counts["rows rejected"] = report.rejected
    counts["people imported"] = len(ctx.contact_ids)
    return StepResult("import contacts", counts)


def load_consent(ctx: DemoContext) -> StepResult:
    """Append consent histories: form opt-ins with proof, later STOPs, pending double opt-ins."""
    from clarion.consent.service import ConsentIn, record_consent

    # A history is recorded once: keys that already have a state were loaded by an earlier run
    # (re-sending an old opt-in after a later STOP would append it again).
    known = _consent_keys(ctx)
    entries = [
        ConsentIn(
            ctx.contact_ids[e.person], e.channel, e.purpose, e.status, e.source, e.proof,
            e.occurred_at,
        )
        for e in gen.consent(ctx.seed, ctx.people, ctx.now)
        if e.person in ctx.contact_ids
        and (ctx.contact_ids[e.person], e.channel, e.purpose) not in known
    ]  # fmt: skip
    with ctx.engine.begin() as conn:
        appended = record_consent(conn, ctx.actor, entries, only_changes=True)
    kinds = Counter(f"{e.channel} {e.status}" for e in entries)
    return StepResult("consent", {"ledger entries": appended, **dict(sorted(kinds.items()))})


def _consent_keys(ctx: DemoContext) -> set[tuple[int, str, str]]:
    """Return the (contact, channel, purpose) keys of the workspace that have a consent state."""
    from clarion.consent.tables import consent_state

    q = sa.select(consent_state.c.contact_id, consent_state.c.channel, consent_state.c.purpose)
    with ctx.engine.connect() as conn:
        rows = conn.execute(q.where(consent_state.c.workspace_id == ctx.actor.workspace_id))
        return {(int(r[0]), str(r[1]), str(r[2])) for r in rows}


def load_catalogue(ctx: DemoContext) -> StepResult:
    """Upsert the product catalogue (USD list prices)."""
    items = [
        ProductIn(
            p.sku,
            p.name,
            p.category,
            p.price,
            "USD",
            f"https://shop.example.com/p/{p.sku.lower()}",
            {"style": p.name.split()[0]},
        )
        for p in ctx.products
    ]
    with ctx.engine.begin() as conn:
        n = upsert_products(conn, ctx.actor, items)
    return StepResult("catalogue", {"products": n, "categories": len(gen.CATEGORIES)})


def load_orders(ctx: DemoContext) -> StepResult:
    """Ingest twelve months of orders with their line items (and order_completed events)."""
    batch = [
        OrderIn(
            ContactRef(contact_id=ctx.contact_ids[o.person]),
            o.external_id,
            o.placed_at,
            o.currency,
            [LineItemIn(li.sku, li.quantity, li.unit_price, None, li.category) for li in o.lines],
            status=o.status,
            attributes={"channel": "demo-shop"},
        )
        for o in ctx.orders
        if o.person in ctx.contact_ids
    ]
    accepted = duplicates = rejected = items = 0
    for start in range(0, len(batch), ORDER_CHUNK):
        part = batch[start : start + ORDER_CHUNK]
        with ctx.engine.begin() as conn:
            res = ingest_orders(conn, ctx.actor, part)
        accepted, duplicates = accepted + res.accepted, duplicates + res.duplicates
        rejected += len(res.rejects)
        items += sum(len(o.items) for o, i in zip(part, res.ids, strict=True) if i is not None)
    return StepResult(
        "orders",
        {"orders": accepted, "line items": items, "duplicates": duplicates, "rejected": rejected},
    )


def load_events(ctx: DemoContext) -> StepResult:
    """Track web and app behaviour in bulk, chunk by chunk as it is generated."""
    names: Counter[str] = Counter()
    accepted = duplicates = 0
    chunk: list[TrackIn] = []

    def flush() -> None:
        nonlocal accepted, duplicates
        with ctx.engine.begin() as conn:
            res = track(conn, ctx.actor, chunk, create_contacts=False)
        accepted, duplicates = accepted + res.accepted, duplicates + res.duplicates
        chunk.clear()

    stream = gen.events(ctx.seed, ctx.people, ctx.products, ctx.orders, ctx.now)
    for ev in stream:
        cid = ctx.contact_ids.get(ev.person)
        if cid is None:
            continue
        names[ev.name] += 1
        chunk.append(
            TrackIn(
                ContactRef(contact_id=cid),
                ev.name,
                ev.properties,
                ev.occurred_at,
                ev.message_id,
                ev.source,
            )
        )
        if len(chunk) >= EVENT_CHUNK:
            flush()
    if chunk:
        flush()
    return StepResult(
        "events", {"events": accepted, "duplicates": duplicates, **dict(names.most_common())}
    )


#: The steps that build the base, in order; ``clarion.demo.run.STEPS`` starts with these.
BASE_STEPS: list[tuple[str, Step]] = [
    ("plan", plan_people),
    ("contacts file", write_contacts_file),
    ("import contacts", import_contacts_file),
    ("consent", load_consent),
    ("catalogue", load_catalogue),
    ("orders", load_orders),
    ("events", load_events),
]


def timed(step: Step, ctx: DemoContext) -> StepResult:
    """Run ``step`` and return its result with the seconds it took."""
    t0 = time.perf_counter()
    result = step(ctx)
    result.seconds = time.perf_counter() - t0
    return result
