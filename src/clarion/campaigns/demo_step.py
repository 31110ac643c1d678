"""The demo's campaign: the demo base, two simulated SMSCs, a failing receipt mix, a failover.

``run_demo_campaign`` sets up (idempotently) two SMPP connectors towards two in-process SMSC
simulators, a main route whose SMSC reports a share of messages UNDELIV and a backup route that
delivers everything, then creates, launches and dispatches a two-variant campaign with a holdout
to the whole demo base and returns what happened. The demo's fixed "now" is the planning instant,
so quiet hours and schedules give the same plan on every run.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.campaigns.control import launch, progress
from clarion.campaigns.models import CampaignCreate
from clarion.campaigns.service import create_campaign
from clarion.db.types import utcnow
from clarion.delivery.tables import message_attempts, messages, routes

BRAND = "Clarion Demo"
MAIN, BACKUP = "demo-main", "demo-backup"


@dataclass
class DemoCampaignSummary:
    """The outcome of the demo campaign."""

    campaign_id: int
    audience: int
    planned: int
    holdout: int
    excluded: dict[str, int]
    messages: dict[str, int]
    delivered_by_route: dict[str, int]
    failed_over: int
    cost: float
    seconds: float
    status: str
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as plain JSON-able values."""
        return asdict(self)


def _setup(engine: Engine, actor: Actor, ports: dict[str, int]) -> None:
    """Create or update the brand policy, the connectors and the routes (idempotent)."""
    from clarion.channels.smpp.service import create_connector, list_connectors, update_connector
    from clarion.compliance.settings import set_policy
    from clarion.delivery.routes import RouteCreate, create_route

    with engine.begin() as conn:
        set_policy(conn, actor, "US", {"brand": BRAND})
        known = {c["name"] for c in list_connectors(conn, actor.workspace_id)}
        for name, port in ports.items():
            values = {
                "host": "127.0.0.1",
                "port": port,
                "system_id": "clarion",
                "password": "secret",
            }
            if name in known:
                update_connector(conn, actor, name, {"port": port})
            else:
                create_connector(conn, actor, name, {**values, "window": 128})
        have = set(
            conn.execute(
                sa.select(routes.c.name).where(routes.c.workspace_id == actor.workspace_id)
            ).scalars()
        )
        for name, priority, price in ((MAIN, 10, 0.0075), (BACKUP, 20, 0.011)):
            if name not in have:
                create_route(
                    conn,
                    actor,
                    RouteCreate(name=name, connector=name, priority=priority, price_per_part=price),
                )


def _spec() -> CampaignCreate:
    return CampaignCreate.model_validate(
        {
            "name": "Demo: winter sale",
            "goal_description": "orders in the week after the send",
            "goal_metric": "conversions",
            "audience": {"all": True},
            "variants": [
                {
                    "name": "A",
                    "body": f"{BRAND}: Hi {{{{ contact.first_name | default('there') }}}}, "
                    "winter sale, 20% off all week. Reply STOP to opt out",
                    "locales": {
                        "de": f"{BRAND}: Hallo {{{{ contact.first_name | default('') }}}}, "
                        "Winterschlussverkauf: 20% auf alles, die ganze Woche. "
                        "Abmelden mit STOP",
                    },
                    "split_pct": 50,
                },
                {
                    "name": "B",
                    "body": f"{BRAND}: {{{{ contact.first_name | default('Hello') }}}}, your 20% "
                    "winter discount is waiting. Reply STOP to opt out",
                    "split_pct": 50,
                },
            ],
            "holdout_pct": 10,
            "failover": {"on_receipt_failure": True, "error_pause_ratio": 0.9},
        }
    )


async def _dispatch(
    engine: Engine, actor: Actor, cid: int, undeliv_share: float, timeout: float
) -> list[str]:
    from clarion.channels.smpp.client import Connector
    from clarion.channels.smpp.service import connector_config
    from clarion.channels.smpp.simulator import SimulatorConfig, SmscSimulator
    from clarion.delivery.worker import Worker

    main = SmscSimulator(
        SimulatorConfig(mix={"DELIVRD": 1 - undeliv_share, "UNDELIV": undeliv_share}, seed=7)
    )
    backup = SmscSimulator(SimulatorConfig())
    ports = {MAIN: await main.start(), BACKUP: await backup.start()}
    for sim in (main, backup):
        sim.keep_messages = False
    notes: list[str] = []
    try:
        await asyncio.to_thread(_setup, engine, actor, ports)
        worker = Worker(engine, workspace_id=actor.workspace_id, lease_ttl=5)
        with engine.connect() as conn:
            for name in ports:
                cfg = connector_config(conn, actor.workspace_id, name)
                worker.add_channel(name, Connector(cfg, on_report=worker.on_report))
        await worker.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not await worker.step():
                await worker.sweep()
                with engine.connect() as conn:
                    left = conn.execute(
                        sa.select(sa.func.count()).where(
                            messages.c.campaign_id == cid,
                            messages.c.status.in_(("queued", "sending", "submitted")),
                            messages.c.send_at <= utcnow(),
                        )
                    ).scalar_one()
                if not left:
                    break
                await asyncio.sleep(0.05)  # receipts are on their way from the simulators
        else:
            notes.append(f"stopped waiting after {timeout:.0f} s")
        await worker.close()
    finally:
        await main.stop()
        await backup.stop()
    return notes


def _launch(engine: Engine, actor: Actor, now: datetime | None) -> tuple[int, Any]:
    with engine.begin() as conn:
        cid = create_campaign(conn, actor, _spec())
    return cid, launch(engine, actor, cid, now=now)


def run_demo_campaign(
    engine: Engine,
    workspace_id: int,
    *,
    now: datetime | None = None,
    undeliv_share: float = 0.08,
    timeout: float = 120.0,
) -> DemoCampaignSummary:
    """Create, launch and send the demo campaign through the simulators; return its outcome.

    Messages that quiet hours move past the end of the run stay queued for a worker; the
    summary says how many.
    """
    actor = Actor.system(workspace_id, "demo")
    started = time.perf_counter()
    # Connectors and routes must exist before planning picks routes: set them up first with
    # placeholder ports; the dispatch step points them at the simulators it starts.
    _setup(engine, actor, {MAIN: 1, BACKUP: 1})
    cid, report = _launch(engine, actor, now)
    notes = asyncio.run(_dispatch(engine, actor, cid, undeliv_share, timeout))
    with engine.connect() as conn:
        prog = progress(conn, workspace_id, cid)
        by_route = {
            str(name): int(n)
            for name, n in conn.execute(
                sa.select(routes.c.name, sa.func.count())
                .join(messages, messages.c.route_id == routes.c.id)
                .where(messages.c.campaign_id == cid, messages.c.status == "delivered")
                .group_by(routes.c.name)
            )
        }
        failed_over = conn.execute(
            sa.select(sa.func.count(sa.distinct(message_attempts.c.message_id))).where(
                message_attempts.c.campaign_id == cid,
                message_attempts.c.result.in_(("undelivered", "failed_permanent", "expired")),
            )
        ).scalar_one()
    later = prog["messages"].get("queued", 0)
    if later:
        notes.append(f"{later} messages wait for their recipients' local send window")
    return DemoCampaignSummary(
        campaign_id=cid,
        audience=report.audience,
        planned=report.planned,
        holdout=report.holdout,
        excluded=dict(report.excluded),
        messages=prog["messages"],
        delivered_by_route=by_route,
        failed_over=int(failed_over),
        cost=round(report.cost, 4),
        seconds=round(time.perf_counter() - started, 2),
        status=prog["status"],
        notes=notes,
    )
