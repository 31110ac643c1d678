"""Benchmark: the fallback timer moving overdue SMS to email (``clarion.delivery.fallback``).

N campaign messages are submitted and overdue (contacts with email and email consent); the
timer (``fire_due`` in transactions of 500, as the ``fallback_timers`` job runs it) moves each
to the email channel with its content rendered for the contact, after compliance decided for
email. Reports messages/s, wall and CPU.

    .venv/bin/python bench/bench_fallback.py --db both          # 20,000 messages
    .venv/bin/python bench/bench_fallback.py --tiny
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from _common import pg_reachable, scratch_engine
from clarion.audit.service import Actor
from clarion.campaigns.models import CampaignCreate
from clarion.campaigns.service import create_campaign
from clarion.campaigns.tables import campaigns
from clarion.compliance.settings import set_policy
from clarion.consent.service import ConsentIn, record_consent
from clarion.contacts.tables import contacts
from clarion.db.types import utcnow
from clarion.delivery.fallback.service import fire_due
from clarion.delivery.routes import RouteCreate, create_route
from clarion.delivery.tables import messages
from clarion.workspaces.service import ensure_workspace

BODY = "Acme: 20% off today. Reply STOP to opt out"
POLICY = {
    "channel": "email",
    "after_s": 60,
    "subject": "Your offer, {{ contact.first_name }}",
    "text": "Hi {{ contact.first_name }}, 20% off today.",
}


def run(kind: str, n: int) -> dict[str, Any]:
    with scratch_engine(kind) as eng:
        now = utcnow()
        past = now - timedelta(minutes=10)
        with eng.begin() as conn:
            ws = ensure_workspace(conn)
            actor = Actor.system(ws, "bench")
            sms = create_route(conn, actor, RouteCreate(name="sms", connector="sim"))
            create_route(conn, actor, RouteCreate(name="mail", channel="email", connector="mail"))
            set_policy(conn, actor, "US", {"brand": "Acme"})  # US first messages name a brand
            variant = {"name": "A", "body": BODY}
            spec = {"name": "b", "audience": {"all": True}, "variants": [variant],
                    "failover": {"fallback": POLICY}}  # fmt: skip
            cid = create_campaign(conn, actor, CampaignCreate.model_validate(spec))
            conn.execute(campaigns.update().where(campaigns.c.id == cid).values(status="running"))
            ids = [
                int(r.id)
                for r in conn.execute(
                    contacts.insert().returning(contacts.c.id),
                    [
                        {
                            "workspace_id": ws,
                            "first_name": f"Ann{i}",
                            "phone": f"+1202{i:07d}",
                            "phone_region": "US",
                            "country": "US",
                            "email": f"c{i}@example.org",
                            "created_at": now,
                            "updated_at": now,
                        }
                        for i in range(n)
                    ],
                )
            ]
            record_consent(
                conn, actor, [ConsentIn(c, "email", "marketing", "opted_in", "form") for c in ids]
            )
            conn.execute(
                messages.insert(),
                [
                    {
                        "workspace_id": ws,
                        "campaign_id": cid,
                        "contact_id": c,
                        "status": "submitted",
                        "channel": "sms",
                        "destination": f"+1202{i:07d}",
                        "route_id": sms,
                        "send_at": past,
                        "queued_at": past,
                        "submitted_at": past,
                        "body": BODY,
                    }
                    for i, c in enumerate(ids)
                ],
            )
        moved = 0
        cpu0, t0 = time.process_time(), time.perf_counter()
        while True:
            with eng.begin() as conn:
                done = fire_due(conn, now=utcnow(), limit=500)
            moved += done["fallback"]
            if not done:
                break
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        with eng.connect() as conn:
            emails = conn.execute(
                sa.select(sa.func.count()).where(messages.c.channel == "email")
            ).scalar_one()
    return {"db": kind, "messages": n, "fell_back": moved, "email_rows": int(emails),
            "wall_s": round(wall, 2), "msgs_per_s": round(n / wall),
            "cpu_us_per_msg": round(cpu / n * 1e6)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="a seconds-long smoke run")
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    ap.add_argument("-n", type=int, default=20_000)
    args = ap.parse_args()
    n = 300 if args.tiny else args.n
    print("load average:", os.getloadavg())
    for kind in ["sqlite", "postgresql"] if args.db == "both" else [args.db]:
        if kind == "postgresql" and not pg_reachable():
            print("postgresql: unreachable, skipped")
            continue
        print(run(kind, n))


if __name__ == "__main__":
    main()
