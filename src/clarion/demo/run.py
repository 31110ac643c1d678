"""``run_demo``: build the demo workspace step by step and print what was done.

Later features add their own steps (a campaign, its delivery, its report) by appending to
``STEPS``; each step reads what earlier steps left in the ``DemoContext``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine

from clarion.analytics.demo_step import write_report
from clarion.audit.service import Actor
from clarion.demo.base import BASE_STEPS, DemoContext, Step, StepResult, timed
from clarion.demo.campaign import send_campaign
from clarion.social.demo_step import social_step

#: The reference "now" of a demo run unless one is given: fixed so runs are reproducible.
DEFAULT_NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

#: Every step of ``clarion demo``, in order. Features append ``(name, step)`` pairs.
STEPS: list[tuple[str, Step]] = [
    *BASE_STEPS,
    ("campaign", send_campaign),
    ("social", social_step),
    ("report", write_report),
]


@dataclass
class DemoReport:
    """What a demo run did, step by step, and what the workspace holds afterwards."""

    seed: int
    size: int
    now: datetime
    steps: list[StepResult]
    totals: dict[str, Any]
    seconds: float


def workspace_totals(engine: Engine, workspace_id: int) -> dict[str, Any]:
    """Return what the workspace holds: contacts by country, consent, orders, revenue, events."""
    from clarion.consent.tables import consent_state
    from clarion.contacts.tables import contact_identities, contacts
    from clarion.events.tables import events, orders, products

    def grouped(col: Any, where: Any, *extra: Any) -> dict[str, Any]:
        q = sa.select(col, sa.func.count(), *extra).where(where).group_by(col).order_by(col)
        with engine.connect() as conn:
            rows = conn.execute(q)
            return {
                "(none)" if r[0] is None else str(r[0]): r[1] if not extra else (r[1], r[2])
                for r in rows
            }

    return {
        "contacts by country (else the number's)": grouped(
            sa.func.coalesce(contacts.c.country, contacts.c.phone_region),
            contacts.c.workspace_id == workspace_id,
        ),
        "social handles": grouped(
            contact_identities.c.namespace, contact_identities.c.workspace_id == workspace_id
        ),
        "sms marketing consent": grouped(
            consent_state.c.status,
            sa.and_(
                consent_state.c.workspace_id == workspace_id,
                consent_state.c.channel == "sms",
                consent_state.c.purpose == "marketing",
            ),
        ),
        "products": grouped(products.c.category, products.c.workspace_id == workspace_id),
        "orders by currency (count, revenue)": grouped(
            orders.c.currency, orders.c.workspace_id == workspace_id, sa.func.sum(orders.c.total)
        ),
        "events": grouped(events.c.name, events.c.workspace_id == workspace_id),
    }


def run_demo(
    engine: Engine,
    *,
    seed: int = 42,
    contacts: int = 20_000,
    data_dir: Path = Path("clarion-data"),
    now: datetime | None = None,
    workspace: str = "default",
    console: Console | None = None,
    steps: list[tuple[str, Step]] | None = None,
) -> DemoReport:
    """Build the demo into ``engine``'s workspace ``workspace`` and return what was done."""
    import time

    from clarion.db.setup import init
    from clarion.workspaces.service import ensure_workspace

    started = time.perf_counter()
    out = console or Console(stderr=True)
    init(engine)
    with engine.begin() as conn:
        ws = ensure_workspace(conn, workspace)
    ctx = DemoContext(
        engine=engine,
        actor=Actor.system(ws, "demo"),
        seed=seed,
        size=contacts,
        now=now or DEFAULT_NOW,
        data_dir=data_dir,
        console=out,
    )
    results: list[StepResult] = []
    for name, step in steps if steps is not None else STEPS:
        out.print(f"[bold]demo[/bold] {name} ...", highlight=False)
        results.append(timed(step, ctx))
    report = DemoReport(
        seed,
        contacts,
        ctx.now,
        results,
        workspace_totals(engine, ws),
        time.perf_counter() - started,
    )
    print_report(report, out)
    return report


def print_report(report: DemoReport, console: Console) -> None:
    """Print the steps and the workspace's contents as two tables."""
    steps = Table(title=f"clarion demo: seed {report.seed}, {report.size:,} contacts")
    steps.add_column("step")
    steps.add_column("what was done")
    steps.add_column("seconds", justify="right")
    for r in report.steps:
        what = ", ".join(f"{k} {v:,}" for k, v in r.counts.items())
        steps.add_row(r.step, what, f"{r.seconds:.1f}")
    steps.add_row("total", f"reference now {report.now.isoformat()}", f"{report.seconds:.1f}")
    console.print(steps)
    totals = Table(title="the demo workspace now holds")
    totals.add_column("what")
    totals.add_column("breakdown")
    for what, groups in report.totals.items():
        parts = []
        for key, value in groups.items():
            if isinstance(value, tuple):
                parts.append(f"{key} {value[0]:,} ({value[1] or 0:,.0f})")
            else:
                parts.append(f"{key} {value:,}")
        totals.add_row(what, ", ".join(parts))
    console.print(totals)
