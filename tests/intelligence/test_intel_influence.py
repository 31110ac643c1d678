"""Influence: PageRank on mentions, shares and referrals; referrals synced from orders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.errors import ValidationFailed
from clarion.events.models import ContactRef
from clarion.events.orders import LineItemIn, OrderIn, ingest_orders
from clarion.intelligence import influence, sample_data, service
from clarion.intelligence.tables import contact_interactions
from clarion.traits.service import get_traits

from .conftest import NOW


def test_the_contact_everyone_credits_ranks_first() -> None:
    # given 1..9 each mention 0, and 5 refers 6 (a referral credits the referrer)
    frm = [*range(1, 10), 6]
    to = [0] * 9 + [5]
    nodes, score = influence.pagerank(np.array(frm), np.array(to), np.ones(10))
    # then 0 is the most influential, 5 the second, and the scores average 1
    order = nodes[np.argsort(-score)].tolist()
    assert order[:2] == [0, 5]
    assert score.mean() == pytest.approx(1.0)


def test_interactions_are_validated_and_a_resync_adds_nothing(
    engine: Engine, actor: Actor, shop: sample_data.Loaded
) -> None:
    a, b = shop.contact_ids[:2]
    with engine.begin() as conn:
        # given a mention with an unknown kind
        with pytest.raises(ValidationFailed) as err:
            influence.record_interactions(
                conn, actor, [{"source_contact_id": a, "target_contact_id": b, "kind": "like"}]
            )
        assert err.value.fields["row"] == 0 and err.value.fields["field"] == "kind"
        # when the same post is recorded twice
        row = {"source_contact_id": a, "target_contact_id": b, "kind": "share", "ref": "post-1"}
        influence.record_interactions(conn, actor, [row])
        influence.record_interactions(conn, actor, [row])
        n = conn.execute(
            sa.select(sa.func.count()).where(contact_interactions.c.ref == "post-1")
        ).scalar_one()
    # then it is stored once
    assert n == 1


def test_referrals_named_by_orders_join_the_graph_and_rank_the_referrer(
    engine: Engine, actor: Actor, shop: sample_data.Loaded
) -> None:
    referrer = shop.contact_ids[-1]
    friends = shop.contact_ids[-40:-1]
    # given 39 orders whose attributes name the same referrer
    with engine.begin() as conn:
        ingest_orders(
            conn,
            actor,
            [
                OrderIn(
                    contact=ContactRef(contact_id=f),
                    external_id=f"ref-order-{f}",
                    placed_at=NOW - timedelta(days=5),
                    currency="USD",
                    items=[LineItemIn("SKU00001", 1, 10.0)],
                    attributes={"referrer_contact_id": referrer},
                )
                for f in friends
            ],
        )
    # when the influence model runs (it syncs referrals first)
    run = service.run(engine, actor, "influence", as_of=NOW + timedelta(days=1))
    # then the referrer is the top influencer with a reach of 39 new credits at least
    assert run["output"]["top"][0]["contact_id"] == referrer
    with engine.connect() as conn:
        t = get_traits(conn, actor.workspace_id, referrer)
    assert t["influence_reach"]["value"] >= 39
    assert t["influence_pagerank"]["source"] == "influence"
    # and the evaluation compares PageRank with in-degree on a time split
    assert "spearman_pagerank" in run["metrics"]
    assert datetime.now(UTC) > NOW
