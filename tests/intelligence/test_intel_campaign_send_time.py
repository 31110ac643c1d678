"""The campaign planner's ``best_hour`` schedule reads the trait the send-time model writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.campaigns.conftest import Factory

from clarion.audit.service import Actor
from clarion.campaigns.planner import plan_campaign
from clarion.delivery.tables import messages
from clarion.events.bulk import json_insert
from clarion.events.tables import events
from clarion.intelligence import service


def test_a_best_hour_campaign_sends_at_the_hour_each_contact_engages(
    engine: Engine, actor: Actor
) -> None:
    make = Factory(engine, actor)
    ny, tokyo = (
        make.contacts(["+12025550101"], timezone="America/New_York")[0],
        make.contacts(["+12025550102"], timezone="Asia/Tokyo")[0],
    )
    make.route("main")
    # given the New Yorker clicks around 19:00 local and the Tokyo contact around 08:00 local
    now = datetime.now(UTC)
    rows = []
    for cid, zone, hour in ((ny, "America/New_York", 19), (tokyo, "Asia/Tokyo", 8)):
        for d in range(1, 13):
            local = (now - timedelta(days=d)).astimezone(ZoneInfo(zone))
            at = local.replace(hour=hour, minute=15, second=0, microsecond=0).astimezone(UTC)
            rows.append(
                {
                    "workspace_id": actor.workspace_id,
                    "contact_id": cid,
                    "name": "link_clicked",
                    "properties": {},
                    "occurred_at": at,
                    "received_at": now,
                }
            )
    with engine.begin() as conn:
        json_insert(conn, events, rows, list(rows[0]))
    # when the send-time model runs and a campaign is planned for each one's best hour
    run = service.run(engine, actor, "send_time", segment_trait=None)
    assert run["contacts"] == 2
    cid = make.campaign(schedule={"kind": "best_hour", "date": "2027-01-15"})
    plan_campaign(engine, actor, cid)
    # then each message is due at that contact's hour in their own zone
    with engine.connect() as conn:
        due = dict(
            conn.execute(
                sa.select(messages.c.contact_id, messages.c.send_at).where(
                    messages.c.campaign_id == cid
                )
            ).all()
        )
    assert due[ny].astimezone(ZoneInfo("America/New_York")).hour == 19
    assert due[tokyo].astimezone(ZoneInfo("Asia/Tokyo")).hour == 8
