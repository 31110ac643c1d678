"""The segments API and CLI: thin edges over the same service, with scopes and clear errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import orjson
from sqlalchemy.engine import Engine
from tests.segments.factory import Person, insert_people
from typer.testing import CliRunner

from clarion.audit.service import Actor
from clarion.cli.main import app
from clarion.db.types import utcnow
from clarion.workspaces.service import create_api_key


def _crowd(engine: Engine, workspace_id: int) -> list[Person]:
    now = utcnow()
    crowd = [
        Person(first_name="ann", country="US", events=[("purchase", now - timedelta(days=2), {})]),
        Person(first_name="bob", country="GB"),
        Person(first_name="cem", country="US", tags={"vip"}),
    ]
    with engine.begin() as conn:
        insert_people(conn, workspace_id, crowd)
    return crowd


def test_api_crud_count_sample_breakdown_snapshot_explain(
    engine: Engine, actor: Actor, api: httpx.Client, token: str
) -> None:
    # given three people and a key with the segment scopes
    ann, _, cem = _crowd(engine, actor.workspace_id)
    auth = {"Authorization": f"Bearer {token}"}
    # when a segment is created from the text form
    r = api.post("/v1/segments", json={"name": "us", "text": "country = US"}, headers=auth)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert r.json()["rules"] == {"field": "country", "op": "eq", "value": "US"}
    # then it counts, samples, breaks down and explains
    assert api.get(f"/v1/segments/{sid}/count", headers=auth).json()["count"] == 2
    sample = api.get(f"/v1/segments/{sid}/sample", params={"limit": 1}, headers=auth).json()
    assert [s["first_name"] for s in sample] == ["ann"]
    by = api.get(f"/v1/segments/{sid}/breakdown", params={"by": "country"}, headers=auth).json()
    assert by == [{"value": "US", "count": 2}]
    why = api.get(f"/v1/segments/{sid}/explain/{cem.id}", headers=auth).json()
    assert why["member"] is True and why["explanation"]["rule"] == "country = US"
    # and changing the rules with JSON works, preview needs no saving
    r = api.patch(
        f"/v1/segments/{sid}",
        headers=auth,
        json={
            "rules": {
                "all": [
                    {"field": "country", "op": "eq", "value": "US"},
                    {"not": {"type": "tag", "tag": "vip"}},
                ]
            }
        },
    )
    assert r.status_code == 200 and r.json()["text"] == "country = US and not tag(vip)"
    prev = api.post(
        "/v1/segments/preview", json={"text": "event(purchase) >= 1 within 7d"}, headers=auth
    ).json()
    assert prev["count"] == 1 and prev["sample"][0]["id"] == ann.id
    # and a snapshot freezes the members, pageable by id
    snap = api.post(f"/v1/segments/{sid}/snapshots", headers=auth)
    assert snap.status_code == 201 and snap.json()["member_count"] == 1
    members = api.get(
        f"/v1/segments/{sid}/snapshots/{snap.json()['id']}/members", headers=auth
    ).json()
    assert members == {"contact_ids": [ann.id], "next_after_id": None}
    assert len(api.get(f"/v1/segments/{sid}/snapshots", headers=auth).json()) == 1
    other = f"/v1/segments/{sid + 1}/snapshots/{snap.json()['id']}/members"
    assert api.get(other, headers=auth).status_code == 404
    assert api.delete(f"/v1/segments/{sid}", headers=auth).status_code == 204
    assert api.get(f"/v1/segments/{sid}", headers=auth).status_code == 404


def test_api_errors_point_into_the_rules_and_scopes_are_enforced(
    engine: Engine, actor: Actor, api: httpx.Client, token: str
) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    bad = {"name": "x", "rules": {"all": [{"field": "country", "op": "gt", "value": "US"}]}}
    r = api.post("/v1/segments", json=bad, headers=auth)
    assert r.status_code == 422
    assert r.json()["error"]["fields"]["field"] == "all[0].op"
    sid = api.post("/v1/segments", json={"name": "ok", "text": "country = US"}, headers=auth)
    naive = {"at": "2026-01-01T00:00:00"}
    r = api.get(f"/v1/segments/{sid.json()['id']}/count", params=naive, headers=auth)
    assert r.status_code == 422 and r.json()["error"]["fields"]["field"] == "at"
    r = api.post("/v1/segments", json={"name": "x", "text": "country in [US"}, headers=auth)
    assert r.status_code == 422 and r.json()["error"]["fields"]["field"] == "text"
    with engine.begin() as conn:
        reader = create_api_key(conn, actor, "reader", ["segments:read"])[1]
    r = api.post(
        "/v1/segments",
        json={"name": "x", "text": "country = US"},
        headers={"Authorization": f"Bearer {reader}"},
    )
    assert r.status_code == 403


def test_cli_create_count_breakdown_snapshot_explain(
    engine: Engine, actor: Actor, cli_db: None, tmp_path: Path
) -> None:
    ann, bob, _ = _crowd(engine, actor.workspace_id)
    runner = CliRunner()

    def run(*args: str) -> object:
        res = runner.invoke(app, ["segment", *args])
        assert res.exit_code == 0, res.output
        return orjson.loads(res.stdout)

    created = run("create", "not-vip", "not tag(vip)")
    assert isinstance(created, dict) and created["text"] == "not tag(vip)"
    assert run("count", "not-vip") == {"count": 2}
    assert run("count", '{"field": "country", "op": "eq", "value": "GB"}') == {"count": 1}
    rules_file = tmp_path / "us.json"
    rules_file.write_text('{"field": "country", "op": "in", "value": ["US"]}')
    assert run("count", str(rules_file)) == {"count": 2}
    assert run("count", f"@{rules_file}") == {"count": 2}
    assert run("breakdown", str(created["id"]), "--by", "country") == [
        {"value": "GB", "count": 1},
        {"value": "US", "count": 1},
    ]
    snap = run("snapshot", "not-vip")
    assert isinstance(snap, dict) and snap["member_count"] == 2
    why = run("explain", "country = US and not tag(vip)", str(bob.id))
    assert isinstance(why, dict) and why["member"] is False
    sample = run("sample", "not-vip", "-n", "1")
    assert isinstance(sample, list) and sample[0]["id"] == ann.id
    # a mistake is one readable line and exit status 2
    res = runner.invoke(app, ["segment", "count", "orders.total > lots and"])
    assert res.exit_code == 2 and "at character 24: expected a condition" in res.output
