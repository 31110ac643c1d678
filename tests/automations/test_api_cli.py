"""The journeys API and CLI: thin edges over the service, with scopes and errors naming fields."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy.engine import Engine
from tests.automations.helpers import Journeys, wait_journey
from typer.testing import CliRunner

from clarion.audit.service import Actor
from clarion.cli.main import app
from clarion.config import get_settings
from clarion.db.types import utcnow
from clarion.workspaces.service import create_api_key


@pytest.fixture
def auth(engine: Engine, actor: Actor) -> dict[str, str]:
    with engine.begin() as conn:
        key = create_api_key(conn, actor, "journeys", ["campaigns:read", "campaigns:write"])[1]
    return {"Authorization": f"Bearer {key}"}


def test_api_crud_status_runs_and_path(
    api_client: httpx.Client, auth: dict[str, str], jt: Journeys
) -> None:
    api = api_client
    # when a journey is created through the API
    r = api.post("/v1/journeys", json=wait_journey(), headers=auth)
    assert r.status_code == 201, r.text
    jid = r.json()["id"]
    # then saving the same document again is 200 and no new version; a change is version 2
    assert api.post("/v1/journeys", json=wait_journey(), headers=auth).status_code == 200
    changed = wait_journey(steps=[{"id": "wait", "wait": {"duration": "2h"}}])
    r = api.put(f"/v1/journeys/{jid}", json=changed, headers=auth)
    assert (r.status_code, r.json()["version"]) == (200, 2)
    assert api.get("/v1/journeys/cart?version=1", headers=auth).json()["definition_version"] == 1
    assert [j["name"] for j in api.get("/v1/journeys", headers=auth).json()] == ["cart"]
    # and a bad definition is a 422 naming the step and field
    bad = wait_journey(steps=[{"id": "w", "wait": {"duration": "soon"}}])
    r = api.post("/v1/journeys", json=bad, headers=auth)
    assert r.status_code == 422
    assert r.json()["error"]["fields"]["field"] == "steps[0] (id 'w').wait.duration"
    # when a contact enters and the wait passes
    (ann,) = jt.people(1)
    jt.emit(ann, "cart_abandoned")
    t0 = utcnow()
    jt.tick(t0)
    jt.tick(t0 + timedelta(hours=3))
    # then runs and the path are visible
    runs = api.get("/v1/journeys/cart/runs", headers=auth).json()
    assert [(r["contact_id"], r["state"], r["version"]) for r in runs] == [(ann, "completed", 2)]
    path = api.get(f"/v1/journeys/cart/contacts/{ann}/path", headers=auth).json()
    assert [s["kind"] for s in path["runs"][0]["steps"]] == ["enter", "wait", "exit"]
    # and pause, resume, archive (DELETE) change the status
    assert api.post("/v1/journeys/cart/pause", headers=auth).json()["status"] == "paused"
    assert api.post("/v1/journeys/cart/resume", headers=auth).json()["status"] == "active"
    assert api.delete("/v1/journeys/cart", headers=auth).json()["status"] == "archived"
    assert api.get("/v1/journeys/nope", headers=auth).status_code == 404
    # and a PUT cannot rename a journey
    r = api.put(f"/v1/journeys/{jid}", json=wait_journey("other"), headers=auth)
    assert (r.status_code, r.json()["error"]["fields"]["field"]) == (422, "name")


def test_api_needs_the_campaign_scopes(
    api_client: httpx.Client, engine: Engine, actor: Actor
) -> None:
    # given a key that may only read contacts
    with engine.begin() as conn:
        key = create_api_key(conn, actor, "ro", ["contacts:read"])[1]
    # when it lists or saves journeys, then it is refused
    h = {"Authorization": f"Bearer {key}"}
    assert api_client.get("/v1/journeys", headers=h).status_code == 403
    assert api_client.post("/v1/journeys", json=wait_journey(), headers=h).status_code == 403


@pytest.fixture
def cli(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("CLARION_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> Any:
        res = runner.invoke(app, list(args))
        assert res.exit_code == code, res.output
        return orjson.loads(res.stdout) if code == 0 and res.stdout.strip() else res

    yield run
    get_settings.cache_clear()


def test_cli_load_list_show_status_runs_and_path(cli: Any, jt: Journeys, tmp_path: Path) -> None:
    # given a YAML file with a journey
    f = tmp_path / "cart.yaml"
    f.write_text(
        "name: cart\ntrigger: {event: cart_abandoned}\ngoal: {event: order_created}\n"
        "steps:\n  - id: wait\n    wait: {duration: 1h}\n  - id: done\n    exit:\n"
    )
    # when it is loaded twice
    first = cli("journey", "load", str(f))
    again = cli("journey", "load", str(f))
    # then it was created once and left alone the second time
    assert (first[0]["created"], again[0]["changed"]) == (True, False)
    assert cli("journey", "list")[0]["name"] == "cart"
    assert cli("journey", "show", "cart")["definition"]["goal"]["event"] == "order_created"
    # when a contact enters and the job runs
    (ann,) = jt.people(1)
    jt.emit(ann, "cart_abandoned")
    ticked = cli("journey", "tick")
    assert ticked["enrolled_events"] == 1
    # then runs and the path are shown
    assert cli("journey", "runs", "cart")[0]["state"] == "active"
    path = cli("journey", "path", "cart", str(ann))
    assert [s["outcome"] for s in path["runs"][0]["steps"]] == ["entered", "waiting"]
    # and status commands work; an unknown journey is one clear error line, status 2
    cli("journey", "pause", "cart")
    assert cli("journey", "show", "cart")["status"] == "paused"
    res = cli("journey", "show", "nope", code=2)
    assert "no journey 'nope'" in res.output
    # and a bad file names the step and the field, and saves none of its journeys
    f.write_text(
        "name: fine\ntrigger: {event: e}\nsteps: [{id: s, exit: }]\n---\n"
        "name: x\ntrigger: {event: e}\nsteps: [{id: s, send: {text: hi, kind: nope}}]\n"
    )
    res = cli("journey", "load", str(f), code=2)
    assert "steps[0] (id 's').send.kind" in res.output
    assert [j["name"] for j in cli("journey", "list")] == ["cart"]
    # and a JSON file loads too
    j = tmp_path / "thanks.json"
    j.write_text(orjson.dumps(wait_journey("thanks")).decode())
    assert cli("journey", "load", str(j))[0]["name"] == "thanks"
