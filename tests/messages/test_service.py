"""Saved templates on both databases: linted on save, versioned, audited, previewed."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor, entries
from clarion.contacts.service import ContactIn, upsert_contacts
from clarion.errors import NotFound, ValidationFailed
from clarion.messages.service import (
    delete_template,
    get_template,
    lint_source,
    list_templates,
    load_template,
    preview_for_contact,
    save_template,
    workspace_schema,
)
from clarion.messages.templates import TemplateError, contact_context

GREETING = "Hi {{ contact.first_name | default('there') }}, {{ attributes.tier | default('') }}"


def test_save_creates_then_versions_and_audits(engine: Engine, actor: Actor) -> None:
    # given a new template
    with engine.begin() as conn:
        first = save_template(conn, actor, name="welcome", body=GREETING)
        # when saved again unchanged, then nothing changes
        again = save_template(conn, actor, name="welcome", body=GREETING)
        # when saved with a variant, then the version goes up
        second = save_template(
            conn, actor, name="welcome", body=GREETING, variants={"zh-CN": "你好"}
        )
    assert first["version"] == 1 and again["version"] == 1 and second["version"] == 2
    assert second["variants"] == {"zh-CN": "你好"}
    assert second["created_at"] == first["created_at"] <= second["updated_at"]
    with engine.connect() as conn:
        actions = [e.action for e in entries(conn, actor.workspace_id, object_type="template")]
        assert actions == ["template.update", "template.create"]
        assert [t["name"] for t in list_templates(conn, actor.workspace_id)] == ["welcome"]


def test_a_template_that_does_not_lint_is_never_saved(engine: Engine, actor: Actor) -> None:
    with pytest.raises(TemplateError) as err, engine.begin() as conn:
        save_template(
            conn, actor, name="bad", body="ok", variants={"de": "Hallo {{ contact.vorname }}"}
        )
    assert err.value.fields["variant"] == "de"
    assert (err.value.fields["line"], err.value.fields["column"]) == (1, 10)
    with engine.connect() as conn, pytest.raises(NotFound):
        get_template(conn, actor.workspace_id, "bad")


def test_invalid_fields_are_refused_with_the_field(engine: Engine, actor: Actor) -> None:
    with pytest.raises(ValidationFailed) as err, engine.begin() as conn:
        save_template(conn, actor, name="x", body="ok", channel="fax")
    assert err.value.fields["field"] == "channel"
    with pytest.raises(ValidationFailed) as err, engine.begin() as conn:
        save_template(conn, actor, name="x", body="ok", variants={"not a locale": "x"})
    assert err.value.fields["field"] == "variants"


def test_attributes_seen_on_contacts_are_known(engine: Engine, actor: Actor) -> None:
    # given a contact with a custom attribute
    with engine.begin() as conn:
        upsert_contacts(conn, actor, [ContactIn(phone="+14155550100", attributes={"tier": "gold"})])
        schema = workspace_schema(conn, actor.workspace_id)
        # then a template may use it without a default, but not an attribute nobody has
        save_template(conn, actor, name="tiered", body="{{ attributes.tier }}")
    assert "tier" in schema.attributes
    with pytest.raises(TemplateError) as err, engine.begin() as conn:
        save_template(conn, actor, name="t2", body="{{ attributes.points }}")
    assert err.value.fields["name"] == "attributes.points"


def test_preview_for_a_contact_picks_the_locale_variant(engine: Engine, actor: Actor) -> None:
    # given contacts in two locales and a template with a Chinese variant
    with engine.begin() as conn:
        ids = upsert_contacts(
            conn,
            actor,
            [
                ContactIn(phone="+14155550101", first_name="Ann", locale="en-US"),
                ContactIn(phone="+8613800138000", first_name="李雷", locale="zh-CN"),
            ],
        ).ids
        save_template(
            conn,
            actor,
            name="promo",
            body=GREETING,
            variants={"zh": "{{ contact.first_name | default('您') }}好，新品上架"},
        )
    # when previewed for each
    with engine.connect() as conn:
        en = preview_for_contact(
            conn, actor.workspace_id, "promo", ids[0] or 0, price_per_part=0.01
        )
        zh = preview_for_contact(conn, actor.workspace_id, "promo", ids[1] or 0)
        # then each gets its language, encoding and cost
        assert (en["text"], en["encoding"], en["parts"], en["cost"]) == (
            "Hi Ann, ",
            "gsm7",
            1,
            0.01,
        )
        assert (zh["text"], zh["encoding"], zh["units"]) == ("李雷好，新品上架", "ucs2", 8)
        with pytest.raises(NotFound):
            preview_for_contact(conn, actor.workspace_id, "promo", 999_999)


def test_load_template_compiles_once_per_version(engine: Engine, actor: Actor) -> None:
    with engine.begin() as conn:
        save_template(conn, actor, name="w", body="v1")
        a = load_template(conn, actor.workspace_id, "w")
        b = load_template(conn, actor.workspace_id, "w")
        save_template(conn, actor, name="w", body="v2")
        c = load_template(conn, actor.workspace_id, "w")
    assert a is b and c is not a
    assert c.render(contact_context({"id": 1})) == "v2"


def test_delete_and_lint_report(engine: Engine, actor: Actor) -> None:
    with engine.begin() as conn:
        save_template(conn, actor, name="gone", body="bye")
        delete_template(conn, actor, "gone")
        with pytest.raises(NotFound):
            delete_template(conn, actor, "gone")
    report = lint_source("{{ contact.first_name }}", {"fr": "{{ x | nope }}"})
    assert report["ok"] is False
    assert [(p["variant"], p["name"], p["severity"]) for p in report["problems"]] == [
        (None, "contact.first_name", "warning"),
        ("fr", "x", "error"),
        ("fr", "nope", "error"),
    ]
