"""Saved templates: save (linted first), read, list, delete, lint and preview.

These functions are the only writers of the ``templates`` table. A template that does not lint
is never saved, so a campaign can not discover at send time that its text is broken.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from clarion.audit.service import Actor, record
from clarion.db.types import utcnow
from clarion.errors import Conflict, NotFound, ValidationFailed
from clarion.messages.lint import ContextSchema
from clarion.messages.preview import preview, preview_many
from clarion.messages.tables import templates
from clarion.messages.templates import (
    LocalizedTemplate,
    TemplateError,
    compile_template,
    contact_context,
    lint,
)

CHANNELS = frozenset({"sms", "email", "social"})
_NAME = re.compile(r"^[\w.\- ]{1,200}$")
_PURPOSE = re.compile(r"^[a-z_]{1,50}$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$")
#: how many contacts to look at for the attribute names a workspace uses
ATTRIBUTE_SAMPLE = 1000


def workspace_schema(conn: sa.Connection, workspace_id: int) -> ContextSchema:
    """Return the context schema of a workspace: standard fields plus attributes seen on contacts.

    Attribute names are those present on a sample of the workspace's contacts (there is no
    attribute catalogue yet), so a template may use any attribute some contact has.
    """
    from clarion.contacts.service import list_contacts

    seen: set[str] = set()
    for row in list_contacts(conn, workspace_id, limit=ATTRIBUTE_SAMPLE):
        attrs = row.get("attributes")
        if isinstance(attrs, dict):
            seen.update(attrs)
    return ContextSchema(attributes=frozenset(seen))


def _check_fields(name: str, channel: str, purpose: str, variants: dict[str, str]) -> None:
    if not _NAME.match(name):
        raise ValidationFailed(
            "name must be 1-200 letters, digits, spaces, '.', '-' or '_'", field="name", value=name
        )
    if channel not in CHANNELS:
        raise ValidationFailed(
            f"unknown channel {channel!r}", field="channel", value=channel, allowed=sorted(CHANNELS)
        )
    if not _PURPOSE.match(purpose):
        raise ValidationFailed("purpose must be lowercase words", field="purpose", value=purpose)
    for tag in variants:
        if not _LOCALE.match(tag):
            raise ValidationFailed(f"not a locale tag: {tag!r}", field="variants", value=tag)


def lint_source(
    body: str, variants: dict[str, str] | None = None, *, known: ContextSchema | None = None
) -> dict[str, Any]:
    """Return the lint report of a body and its variants: ``{"ok", "problems"}``.

    Each problem carries line, column, name, message, severity and the variant (None for the
    default body).
    """
    problems: list[dict[str, Any]] = []
    for tag, source in [(None, body), *(variants or {}).items()]:
        found, _used = lint(source, known)
        problems.extend({**p.as_dict(), "variant": tag} for p in found)
    return {"ok": not any(p["severity"] == "error" for p in problems), "problems": problems}


def _row_dict(row: sa.RowMapping) -> dict[str, Any]:
    return dict(row)


def save_template(
    conn: sa.Connection,
    actor: Actor,
    *,
    name: str,
    body: str,
    channel: str = "sms",
    purpose: str = "marketing",
    variants: dict[str, str] | None = None,
    known: ContextSchema | None = None,
) -> dict[str, Any]:
    """Lint and save a template (create, or update with ``version + 1``); return the saved row.

    Raise TemplateError, naming the variant, line, column and name, when it does not lint.
    Saving an unchanged template changes nothing.
    """
    variants = dict(variants or {})
    _check_fields(name, channel, purpose, variants)
    schema = known or workspace_schema(conn, actor.workspace_id)
    compiled = LocalizedTemplate.compile(body, variants, known=schema)
    warnings = [
        {**w.as_dict(), "variant": tag}
        for tag, t in [(None, compiled.default), *compiled.variants.items()]
        for w in t.warnings
    ]
    now = utcnow()
    existing = (
        conn.execute(
            sa.select(templates).where(
                templates.c.workspace_id == actor.workspace_id,
                templates.c.channel == channel,
                templates.c.name == name,
            )
        )
        .mappings()
        .first()
    )
    if existing is None:
        tid = conn.execute(
            templates.insert()
            .values(
                workspace_id=actor.workspace_id,
                name=name,
                channel=channel,
                purpose=purpose,
                body=body,
                variants=variants,
                warnings=warnings,
                version=1,
                created_at=now,
                updated_at=now,
            )
            .returning(templates.c.id)
        ).scalar_one()
        record(conn, actor, "template.create", "template", tid, {"name": name, "version": 1})
        return get_template(conn, actor.workspace_id, name, channel=channel)
    same = (existing["body"], existing["variants"], existing["purpose"]) == (
        body,
        variants,
        purpose,
    )
    if same:
        return _row_dict(existing)
    version = int(existing["version"]) + 1
    res = conn.execute(
        templates.update()
        .where(templates.c.id == existing["id"], templates.c.version == existing["version"])
        .values(
            purpose=purpose,
            body=body,
            variants=variants,
            warnings=warnings,
            version=version,
            updated_at=now,
        )
    )
    if res.rowcount != 1:  # someone saved it in between: let the caller retry on fresh data
        raise Conflict("template changed while saving", field="name", value=name)
    record(
        conn,
        actor,
        "template.update",
        "template",
        existing["id"],
        {"name": name, "version": version},
    )
    return get_template(conn, actor.workspace_id, name, channel=channel)


def get_template(
    conn: sa.Connection, workspace_id: int, name: str, *, channel: str = "sms"
) -> dict[str, Any]:
    """Return a saved template of the workspace, or raise NotFound."""
    row = (
        conn.execute(
            sa.select(templates).where(
                templates.c.workspace_id == workspace_id,
                templates.c.channel == channel,
                templates.c.name == name,
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no {channel} template {name!r}", field="name", value=name)
    return _row_dict(row)


def list_templates(
    conn: sa.Connection, workspace_id: int, *, channel: str | None = None
) -> list[dict[str, Any]]:
    """Return the workspace's templates ordered by channel and name."""
    q = sa.select(templates).where(templates.c.workspace_id == workspace_id)
    if channel is not None:
        q = q.where(templates.c.channel == channel)
    q = q.order_by(templates.c.channel, templates.c.name)
    return [_row_dict(r) for r in conn.execute(q).mappings()]


def delete_template(conn: sa.Connection, actor: Actor, name: str, *, channel: str = "sms") -> None:
    """Delete a template of the actor's workspace, or raise NotFound."""
    found = get_template(conn, actor.workspace_id, name, channel=channel)
    conn.execute(templates.delete().where(templates.c.id == found["id"]))
    record(conn, actor, "template.delete", "template", found["id"], {"name": name})


@lru_cache(maxsize=256)
def _compiled(template_id: int, version: int, body: str, variants_key: str) -> LocalizedTemplate:
    variants: dict[str, str] = json.loads(variants_key)
    # Saved templates were linted on save; compile with an open schema so attributes that
    # have since disappeared from the sample do not break sending (defaults still apply).
    schema = ContextSchema(open_attributes=True)
    return LocalizedTemplate(
        compile_template(body, known=schema),
        {tag: compile_template(src, known=schema) for tag, src in variants.items()},
    )


def load_template(
    conn: sa.Connection, workspace_id: int, name: str, *, channel: str = "sms"
) -> LocalizedTemplate:
    """Return a saved template compiled once (cached by id and version) for rendering."""
    row = get_template(conn, workspace_id, name, channel=channel)
    key = json.dumps(row["variants"], sort_keys=True)
    return _compiled(int(row["id"]), int(row["version"]), row["body"], key)


def preview_for_contact(
    conn: sa.Connection,
    workspace_id: int,
    name: str,
    contact_id: int,
    *,
    channel: str = "sms",
    price_per_part: float | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the preview of a saved template for one contact of the workspace."""
    from clarion.contacts.service import get_contact

    template = load_template(conn, workspace_id, name, channel=channel)
    contact = get_contact(conn, workspace_id, contact_id)
    try:
        out = preview(
            template, contact_context(contact, extra=extra), price_per_part=price_per_part
        )
    except TemplateError as exc:
        exc.fields.setdefault("contact_id", contact_id)
        raise
    return {"template": name, "contact_id": contact_id, **out}


MAX_PREVIEW_CONTACTS = 1000


def preview_for_contacts(
    conn: sa.Connection,
    workspace_id: int,
    name: str,
    contact_ids: list[int],
    *,
    channel: str = "sms",
    price_per_part: float | None = None,
) -> dict[str, Any]:
    """Return typical (median) and worst-case length, parts and cost over a list of contacts.

    Meant for a sample (at most 1,000 contacts); a segment preview passes its sample's ids.
    """
    from clarion.contacts.service import get_contact

    if len(contact_ids) > MAX_PREVIEW_CONTACTS:
        raise ValidationFailed(
            f"at most {MAX_PREVIEW_CONTACTS} contacts per preview",
            field="contact_ids",
            value=len(contact_ids),
        )
    template = load_template(conn, workspace_id, name, channel=channel)
    contexts = [contact_context(get_contact(conn, workspace_id, cid)) for cid in contact_ids]
    summary = preview_many(template, contexts, price_per_part=price_per_part)
    return {"template": name, **summary}
