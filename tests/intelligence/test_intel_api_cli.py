"""The intelligence API and CLI: run models, browse rules, fetch recommendations."""

from __future__ import annotations

import httpx
import orjson
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from clarion.audit.service import Actor
from clarion.cli.main import app
from clarion.intelligence import sample_data
from clarion.workspaces.service import create_api_key

from .conftest import NOW


def test_api_runs_models_and_serves_rules_and_recommendations(
    engine: Engine, actor: Actor, shop: sample_data.Loaded, api_client: httpx.Client, token: str
) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    # when RFM, basket and recommendations run through the API
    for model, params in [
        ("rfm", {}),
        ("basket", {"window_days": None, "min_orders": 8}),
        ("recommend", {"window_days": None}),
    ]:
        r = api_client.post(
            f"/v1/intelligence/models/{model}/run",
            json={"as_of": NOW.isoformat(), "params": params},
            headers=auth,
            timeout=120,
        )
        assert r.status_code == 200, r.text
        assert r.json()["model"] == model and r.json()["metrics"]
    # then the runs are listed newest first with their evaluation
    runs = api_client.get("/v1/intelligence/runs", headers=auth).json()
    assert [x["model"] for x in runs] == ["recommend", "basket", "rfm"]
    # and rules are browsable, recommendations fetched one by one or in a batch
    rules = api_client.get("/v1/intelligence/basket/rules", params={"limit": 3}, headers=auth)
    assert rules.status_code == 200 and len(rules.json()) == 3
    cid = shop.contact_ids[0]
    one = api_client.get(f"/v1/intelligence/recommendations/{cid}", headers=auth).json()
    batch = api_client.post(
        "/v1/intelligence/recommendations:batch",
        json={"contact_ids": [cid, shop.contact_ids[1]], "n": 3},
        headers=auth,
    ).json()
    assert len(one["items"]) == 3 and batch["recommendations"][0]["items"] == one["items"]


def test_api_refuses_unknown_models_bad_budgets_and_missing_scopes(
    engine: Engine, actor: Actor, api_client: httpx.Client, token: str
) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    r = api_client.post("/v1/intelligence/models/astrology/run", json={}, headers=auth)
    assert r.status_code == 422
    bad = {
        "budget": 10,
        "segments": {"a": 1},
        "cells": [
            {
                "segment": "b",
                "channel": "sms",
                "cost": 1,
                "response": 0.1,
                "value": 1,
                "audience": 1,
            }
        ],
    }
    r = api_client.post("/v1/intelligence/budget/allocate", json=bad, headers=auth)
    assert r.status_code == 422 and "cells[0].segment" in r.text
    with engine.begin() as conn:
        reader = create_api_key(conn, actor, "reader", ["segments:read"])[1]
    r = api_client.post(
        "/v1/intelligence/models/rfm/run",
        json={},
        headers={"Authorization": f"Bearer {reader}"},
    )
    assert r.status_code == 403


def test_cli_commands_print_their_evaluation(
    engine: Engine, shop: sample_data.Loaded, cli_db: None
) -> None:
    runner = CliRunner()

    def run(*args: str) -> object:
        res = runner.invoke(app, ["intel", *args])
        assert res.exit_code == 0, res.output
        return orjson.loads(res.stdout)

    at = NOW.isoformat()
    rfm = run("rfm", "--as-of", at)
    assert isinstance(rfm, dict) and "auc_rfm_sum" in rfm["metrics"]
    churn = run("churn", "--as-of", at)
    assert isinstance(churn, dict) and "auc" in churn["metrics"]
    budget = run("budget", "--budget", "3", "--max-share", "sms=0.8")
    assert isinstance(budget, dict) and "evolutionary_gap" in budget["metrics"]
    influence = run("influence", "--as-of", at)
    assert isinstance(influence, dict) and influence["metrics"]["nodes"] > 0
    runs = run("runs")
    assert isinstance(runs, list) and [r["model"] for r in runs][:2] == ["influence", "budget"]
    # a mistake is one readable line and exit status 2
    res = runner.invoke(app, ["intel", "rfm", "--as-of", "2026-01-01T00:00:00"])
    assert res.exit_code == 2 and "needs a UTC offset" in res.output
