"""Budget allocation: exact LP/MILP answer, evolutionary search checked against it."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.errors import ValidationFailed
from clarion.intelligence import budget, sample_data, service
from clarion.segments import query

from .conftest import NOW


def _problem(**over: object) -> budget.Problem:
    doc: dict[str, object] = {
        "budget": 100.0,
        "segments": {"vip": 100, "rest": 1000},
        "cells": [
            {
                "segment": "vip",
                "channel": "sms",
                "cost": 0.5,
                "response": 0.3,
                "value": 50,
                "audience": 100,
            },
            {
                "segment": "vip",
                "channel": "email",
                "cost": 0.1,
                "response": 0.1,
                "value": 50,
                "audience": 80,
            },
            {
                "segment": "rest",
                "channel": "sms",
                "cost": 0.5,
                "response": 0.05,
                "value": 20,
                "audience": 900,
            },
            {
                "segment": "rest",
                "channel": "email",
                "cost": 0.1,
                "response": 0.02,
                "value": 20,
                "audience": 1000,
            },
        ],
    }
    doc.update(over)
    return budget.Problem.model_validate(doc)


def test_the_exact_answer_weighs_value_per_contact_against_value_per_cost() -> None:
    # given a budget of 100, 100 vips (sms 15 a contact for 0.5, email 5 for 0.1) and 1,000
    # others (sms 1 for 0.5, email 0.4 for 0.1), each person reached once
    # when allocated
    out = budget.allocate(_problem())
    cells = {(c["segment"], c["channel"]): c["contacts"] for c in out["cells"]}
    # then every vip gets the sms (moving one from email gains 10 for 0.4: 25 per unit, more
    # than the best other use, 4 per unit), and the remaining 50 buy 500 emails to the rest
    assert cells[("vip", "sms")] == 100 and cells[("vip", "email")] == 0
    assert cells[("rest", "email")] == 500 and cells[("rest", "sms")] == 0
    assert out["exact_spend"] == pytest.approx(100.0)
    assert out["exact_value"] == pytest.approx(100 * 15 + 500 * 0.4)
    # and the evolutionary search is reported beside it, never better than the optimum
    assert out["evolutionary_value"] <= out["lp_value"] + 1e-6
    assert 0 <= out["evolutionary_gap"] < 0.25


def test_a_channel_cap_moves_money_to_the_other_channel() -> None:
    # given email may take at most 5% of the budget
    out = budget.allocate(_problem(channel_max_share={"email": 0.05}))
    email = sum(c["spend"] for c in out["cells"] if c["channel"] == "email")
    # then email spend stops at 5 and sms takes the rest
    assert email <= 5.0 + 1e-6
    assert out["exact_spend"] == pytest.approx(100.0, abs=0.5)


def test_an_unknown_segment_or_an_impossible_floor_is_refused_with_the_reason() -> None:
    # given a cell naming a segment that is not declared
    with pytest.raises(ValueError, match=r"cells\[0\]\.segment 'ghost'"):
        _problem(
            cells=[
                {
                    "segment": "ghost",
                    "channel": "sms",
                    "cost": 1,
                    "response": 0.1,
                    "value": 1,
                    "audience": 1,
                }
            ]
        )
    # given a floor on email spend the audience cannot absorb
    with pytest.raises(ValidationFailed, match="no solution"):
        budget.solve_lp(_problem(channel_min_spend={"email": 10_000.0}))


def test_budget_run_marks_the_chosen_contacts_with_their_channel(
    engine: Engine, actor: Actor, shop: sample_data.Loaded
) -> None:
    # given RFM groups and churn risks
    service.run(engine, actor, "rfm", as_of=NOW)
    service.run(engine, actor, "churn", as_of=NOW)
    # when a budget of 5 is split over sms and email
    run = service.run(
        engine,
        actor,
        "budget",
        budget=5.0,
        channels={"sms": {"cost": 0.05, "factor": 1.0}, "email": {"cost": 0.01, "factor": 0.3}},
    )
    # then the exact allocation spends at most the budget
    assert run["metrics"]["exact_spend"] <= 5.0 + 1e-6
    chosen = sum(c["contacts"] for c in run["output"]["cells"])
    # and exactly that many contacts carry a channel; everyone else in a group carries "none"
    with engine.connect() as conn:

        def count(value: str) -> int:
            rule = {"type": "trait", "name": "budget_channel", "op": "eq", "value": value}
            return query.count(conn, actor.workspace_id, rule)

        assert count("sms") + count("email") == chosen
        assert count("none") > 0
