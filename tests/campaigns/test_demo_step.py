"""The demo campaign: sent through two simulated SMSCs, failed receipts taken over by the backup."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.campaigns.demo_step import run_demo_campaign


def test_demo_campaign_fails_over_to_the_backup_route(
    engine: Engine, actor: Actor, make: Any
) -> None:
    # given 60 consenting contacts and a main SMSC reporting 30% of messages undelivered
    make.contacts([f"+1202555{i:04d}" for i in range(60)])
    make.contacts(["+12025559999"], consent=None)
    # when the demo campaign runs
    summary = run_demo_campaign(engine, actor.workspace_id, undeliv_share=0.3, timeout=30)
    # then every planned message was delivered, some of them by the backup after a failure
    assert summary.audience == 61 and summary.excluded == {"no_consent": 1}
    assert summary.messages == {"delivered": summary.planned, "holdout": summary.holdout}
    assert summary.failed_over > 0
    assert summary.delivered_by_route["demo-backup"] == summary.failed_over
    assert summary.delivered_by_route["demo-main"] == summary.planned - summary.failed_over
    assert summary.status == "completed"
    # and running it again (a second demo run) works with the same connectors and routes
    again = run_demo_campaign(engine, actor.workspace_id, undeliv_share=0.0, timeout=30)
    assert again.campaign_id != summary.campaign_id and again.failed_over == 0
