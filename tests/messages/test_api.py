"""The templates API over HTTP on both databases."""

from __future__ import annotations

import httpx
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.contacts.service import ContactIn, upsert_contacts

from .conftest import bearer


def test_templates_crud_lint_and_preview(api: httpx.Client, engine: Engine, actor: Actor) -> None:
    # given a key with the templates scope and two contacts
    h = bearer(engine, actor, "templates:write")
    with engine.begin() as conn:
        ids = upsert_contacts(
            conn,
            actor,
            [
                ContactIn(phone="+14155550101", first_name="Ann", locale="en-US"),
                ContactIn(phone="+14155550102", first_name="Bartholomew-Maximilian"),
            ],
        ).ids
    body = "Hi {{ contact.first_name | default('there') }}! " + "x" * 140
    # when a template is created
    r = api.post("/v1/templates", json={"name": "promo", "body": body}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1
    # then it is listed and readable
    assert [t["name"] for t in api.get("/v1/templates", headers=h).json()] == ["promo"]
    assert api.get("/v1/templates/promo", headers=h).json()["body"] == body
    # when it is updated by PUT with a variant, the version goes up
    r = api.put("/v1/templates/promo", json={"body": body, "variants": {"zh": "你好"}}, headers=h)
    assert r.status_code == 200 and r.json()["version"] == 2
    # and previews give text, parts and cost for one contact and over several
    r = api.post(
        "/v1/templates/promo/preview",
        json={"contact_id": ids[0], "price_per_part": 0.01},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["text"][:8], r.json()["parts"], r.json()["cost"]) == ("Hi Ann! ", 1, 0.01)
    r = api.post(
        "/v1/templates/promo/preview-many",
        json={"contact_ids": ids, "price_per_part": 0.01},
        headers=h,
    )
    summary = r.json()
    assert summary["count"] == 2 and summary["worst"]["parts"] == 2
    assert summary["typical"]["parts"] == 1
    # when deleted, it is gone
    assert api.delete("/v1/templates/promo", headers=h).status_code == 204
    assert api.get("/v1/templates/promo", headers=h).status_code == 404


def test_a_template_that_does_not_lint_is_a_422_with_positions(
    api: httpx.Client, engine: Engine, actor: Actor
) -> None:
    h = bearer(engine, actor, "templates:write")
    r = api.post("/v1/templates", json={"name": "bad", "body": "Hi {{ contact.nme }}"}, headers=h)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "template_invalid"
    assert (err["fields"]["line"], err["fields"]["column"], err["fields"]["name"]) == (
        1,
        7,
        "contact.nme",
    )
    r = api.post("/v1/templates/lint", json={"body": "{{ x | nope }}"}, headers=h)
    assert r.status_code == 200
    assert [p["name"] for p in r.json()["problems"]] == ["x", "nope"]


def test_the_templates_scope_is_required(api: httpx.Client, engine: Engine, actor: Actor) -> None:
    h = bearer(engine, actor, "contacts:read")
    assert api.get("/v1/templates", headers=h).status_code == 403
    assert api.get("/v1/templates").status_code == 401
