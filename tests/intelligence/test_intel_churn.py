"""Churn risk: calibrated classifier on a time split, a trait segments can select on."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.intelligence import sample_data, service
from clarion.segments import query
from clarion.traits.service import get_traits

from .conftest import NOW


def test_churn_model_is_evaluated_on_a_later_snapshot_and_its_risk_selects_a_segment(
    engine: Engine, actor: Actor, shop: sample_data.Loaded
) -> None:
    # given a shop where a third of customers stop buying
    # when the churn model runs
    run = service.run(engine, actor, "churn", as_of=NOW)
    m = run["metrics"]
    # then it separates churners from buyers better than chance on the later snapshot
    assert m["auc"] > 0.6
    # and its calibrated probabilities beat predicting the base rate for everyone
    assert m["brier"] < m["brier_base_rate"]
    # and every feature has an importance, largest first, recency among those that matter
    drops = [i["auc_drop"] for i in m["importances"]]
    assert len(drops) == 10 and drops == sorted(drops, reverse=True)
    assert next(i for i in m["importances"] if i["feature"] == "recency_days")["auc_drop"] > 0
    # and a segment on the risk holds exactly the contacts above the threshold
    with engine.connect() as conn:
        risky = {"type": "trait", "name": "churn_risk", "op": "gt", "value": 0.7}
        safe = {"type": "trait", "name": "churn_risk", "op": "lte", "value": 0.7}
        n_risky = query.count(conn, actor.workspace_id, risky)
        n_safe = query.count(conn, actor.workspace_id, safe)
        one = get_traits(conn, actor.workspace_id, shop.contact_ids[0])
    assert n_risky > 0 and n_safe > 0
    assert n_risky + n_safe == m["customers_scored"]
    if "churn_risk" in one:
        assert 0.0 <= one["churn_risk"]["value"] <= 1.0
        assert one["churn_risk"]["source"] == "churn"


def test_churn_without_enough_history_says_so_instead_of_guessing(
    engine: Engine, actor: Actor
) -> None:
    # given an empty workspace
    # when the churn model runs
    run = service.run(engine, actor, "churn", as_of=NOW)
    # then the run records why nothing was scored
    assert "need 50+ customers" in run["metrics"]["note"]
    assert run["contacts"] == 0
