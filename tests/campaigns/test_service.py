"""Campaign model and state machine: drafts are editable, moves follow the table, all audited."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor, entries
from clarion.campaigns.models import CampaignCreate
from clarion.campaigns.service import get_campaign, transition, update_campaign
from clarion.errors import Conflict, NotFound


def test_create_stores_variants_splits_and_holdout(engine: Engine, actor: Actor, make: Any) -> None:
    # given a campaign with two variants and a 10% holdout
    cid = make.campaign(
        variants=[
            {"name": "A", "body": "a", "split_pct": 70},
            {"name": "B", "body": "b", "split_pct": 30},
        ],
        holdout_pct=10,
        goal_description="more orders",
        goal_metric="conversions",
    )
    # when it is read back
    with engine.connect() as conn:
        camp = get_campaign(conn, actor.workspace_id, cid)
    # then it is a draft with the splits in basis points
    assert camp.status == "draft"
    assert [(v.name, v.split_bp) for v in camp.variants] == [("A", 7000), ("B", 3000)]
    assert camp.holdout_bp == 1000
    assert camp.goal_metric == "conversions"


def test_splits_must_add_up_to_100() -> None:
    with pytest.raises(ValidationError, match="add up to 90"):
        CampaignCreate.model_validate(
            {
                "name": "x",
                "audience": {"all": True},
                "variants": [
                    {"name": "A", "body": "a", "split_pct": 50},
                    {"name": "B", "body": "b", "split_pct": 40},
                ],
            }
        )


def test_only_drafts_can_be_edited(engine: Engine, actor: Actor, make: Any) -> None:
    # given a draft that is edited, then launched
    cid = make.campaign()
    spec = CampaignCreate.model_validate(
        {"name": "Renamed", "audience": {"tags": ["vip"]}, "variants": [{"name": "A", "body": "b"}]}
    )
    with engine.begin() as conn:
        update_campaign(conn, actor, cid, spec)
        transition(conn, actor, cid, "running")
    with engine.connect() as conn:
        assert get_campaign(conn, actor.workspace_id, cid).name == "Renamed"
    # when it is edited again, then the edit is refused
    with pytest.raises(Conflict) as err, engine.begin() as conn:
        update_campaign(conn, actor, cid, spec)
    assert err.value.fields["value"] == "running"


def test_state_machine_refuses_forbidden_moves_and_audits_allowed_ones(
    engine: Engine, actor: Actor, make: Any
) -> None:
    cid = make.campaign()
    with engine.begin() as conn:
        transition(conn, actor, cid, "running")
        transition(conn, actor, cid, "paused", reason="checking the link")
        transition(conn, actor, cid, "running")
        transition(conn, actor, cid, "cancelled")
    # a cancelled campaign cannot come back
    for to in ("running", "paused", "draft", "completed"):
        with pytest.raises(Conflict), engine.begin() as conn:
            transition(conn, actor, cid, to)
    with engine.connect() as conn:
        actions = [e.action for e in entries(conn, actor.workspace_id, object_type="campaign")]
    assert actions == [
        "campaign.cancelled",
        "campaign.running",
        "campaign.paused",
        "campaign.running",
        "campaign.create",
    ]


def test_other_workspaces_campaigns_are_not_found(engine: Engine, actor: Actor, make: Any) -> None:
    cid = make.campaign()
    with pytest.raises(NotFound), engine.connect() as conn:
        get_campaign(conn, actor.workspace_id + 1, cid)
