"""A workspace's inbound settings (brand, support contact, frequency...) and its own keywords.

Settings are one JSON document per workspace, validated key by key, so adding a setting is a
line here and not a migration. Keywords are rows: a JOIN keyword names the purpose (and
optionally the campaign) it subscribes to and whether it needs a confirming reply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from clarion.audit.service import Actor, record
from clarion.campaigns.tables import campaigns
from clarion.consent.service import CHANNELS, PURPOSES
from clarion.db.types import utcnow
from clarion.errors import Conflict, NotFound, ValidationFailed
from clarion.inbound import keywords as kw
from clarion.inbound.tables import inbound_keywords, inbound_settings
from clarion.workspaces.tables import workspaces

#: Setting -> (type, description). Unknown keys are refused by name.
SETTINGS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "brand": (str, "the name replies start with (default: the US policy's brand, else workspace)"),
    "support": (str, "support contact named in HELP replies: a URL, a number or an address"),
    "frequency": ((str, dict), "message frequency for replies, or {language: text}"),
    "public_url": (str, "base URL of the public API, for preference links"),
    "optin_ttl_hours": ((int, float), "hours a double opt-in request waits for its YES"),
    "opt_out_phrases": (dict, "{language: [phrases]} replacing the natural-language defaults"),
    "texts": (dict, "{language: {reply kind: template}} overriding the default replies"),
    "create_unknown_contacts": (bool, "make a contact for an unknown sender (default true)"),
}
DEFAULTS: dict[str, Any] = {
    "support": None,
    "frequency": None,
    "public_url": "http://127.0.0.1:8000",
    "optin_ttl_hours": 48,
    "create_unknown_contacts": True,
}
ACTIONS = ("opt_out", "opt_in", "help", "join")


def _check(settings: Mapping[str, Any]) -> None:
    for key, value in settings.items():
        if key not in SETTINGS:
            raise ValidationFailed(
                f"unknown inbound setting {key!r}", field=key, allowed=sorted(SETTINGS)
            )
        kind = SETTINGS[key][0]
        wrong = not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)
        if value is not None and wrong:
            raise ValidationFailed(
                f"setting {key!r} has the wrong type", field=key, value=value, expected=str(kind)
            )
    ttl = settings.get("optin_ttl_hours")
    if ttl is not None and not 0 < float(ttl) <= 24 * 90:
        raise ValidationFailed("optin_ttl_hours must be in (0, 2160]", field="optin_ttl_hours")
    phrases = settings.get("opt_out_phrases")
    if phrases is not None and not all(
        isinstance(v, list) and all(isinstance(p, str) and p.strip() for p in v)
        for v in phrases.values()
    ):
        raise ValidationFailed(
            "opt_out_phrases maps a language to a list of non-empty phrases",
            field="opt_out_phrases",
        )


def get_settings(conn: sa.Connection, workspace_id: int) -> dict[str, Any]:
    """Return the workspace's inbound settings with defaults filled in."""
    stored = conn.execute(
        sa.select(inbound_settings.c.settings).where(
            inbound_settings.c.workspace_id == workspace_id
        )
    ).scalar()
    return {**DEFAULTS, **(stored or {})}


def set_settings(conn: sa.Connection, actor: Actor, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``changes`` into the workspace's settings (None removes a key); return the result."""
    _check(changes)
    t = inbound_settings
    current = conn.execute(
        sa.select(t.c.settings).where(t.c.workspace_id == actor.workspace_id)
    ).scalar()
    merged = {k: v for k, v in {**(current or {}), **changes}.items() if v is not None}
    ins = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(t)
    conn.execute(
        ins.values(
            workspace_id=actor.workspace_id, settings=merged, updated_at=utcnow()
        ).on_conflict_do_update(
            index_elements=["workspace_id"],
            set_={"settings": ins.excluded.settings, "updated_at": ins.excluded.updated_at},
        )
    )
    record(conn, actor, "inbound.settings", "inbound_settings", actor.workspace_id, dict(changes))
    return {**DEFAULTS, **merged}


def brand_of(conn: sa.Connection, workspace_id: int, settings: Mapping[str, Any]) -> str:
    """Return the brand replies name: the setting, else the US policy's brand, else the name."""
    if settings.get("brand"):
        return str(settings["brand"])
    from clarion.compliance.settings import policy_overrides

    for override in policy_overrides(conn, workspace_id).values():
        if override.get("brand"):
            return str(override["brand"])
    name = conn.execute(sa.select(workspaces.c.name).where(workspaces.c.id == workspace_id))
    return str(name.scalar() or "")


@dataclass(frozen=True, slots=True)
class KeywordIn:
    """A workspace keyword to create."""

    keyword: str
    action: str  # opt_out, opt_in, help, join
    language: str = "en"
    channel: str = "sms"
    purpose: str = "marketing"
    campaign_id: int | None = None
    reply: str | None = None
    double_opt_in: bool = True


def add_keyword(conn: sa.Connection, actor: Actor, spec: KeywordIn) -> dict[str, Any]:
    """Create a workspace keyword; refuse one that shadows a built-in opt-out or help keyword."""
    word = kw.normalise(spec.keyword)
    if not word or len(word) > 100:
        raise ValidationFailed("a keyword of 1-100 characters is needed", field="keyword")
    if spec.action not in ACTIONS:
        raise ValidationFailed(
            "unknown action", field="action", value=spec.action, allowed=list(ACTIONS)
        )
    if spec.channel not in CHANNELS or spec.purpose not in PURPOSES:
        raise ValidationFailed(
            "unknown channel or purpose",
            field="channel" if spec.channel not in CHANNELS else "purpose",
            value=spec.channel if spec.channel not in CHANNELS else spec.purpose,
        )
    reserved = kw.builtin_keyword(word)
    if reserved is not None:
        raise Conflict(
            f"{spec.keyword!r} is a built-in {reserved} keyword and cannot be redefined",
            field="keyword",
            value=spec.keyword,
        )
    if spec.campaign_id is not None:
        found = conn.execute(
            sa.select(campaigns.c.id).where(
                campaigns.c.id == spec.campaign_id, campaigns.c.workspace_id == actor.workspace_id
            )
        ).scalar()
        if found is None:
            raise NotFound(
                f"no campaign {spec.campaign_id}", field="campaign_id", value=spec.campaign_id
            )
    t = inbound_keywords
    if conn.execute(
        sa.select(t.c.id).where(t.c.workspace_id == actor.workspace_id, t.c.keyword == word)
    ).scalar():
        raise Conflict(f"keyword {spec.keyword!r} exists already", field="keyword", value=word)
    new_id = conn.execute(
        t.insert()
        .values(
            workspace_id=actor.workspace_id,
            keyword=word,
            action=spec.action,
            language=spec.language,
            channel=spec.channel,
            purpose=spec.purpose,
            campaign_id=spec.campaign_id,
            reply=spec.reply,
            double_opt_in=spec.double_opt_in,
            created_at=utcnow(),
        )
        .returning(t.c.id)
    ).scalar_one()
    record(conn, actor, "inbound.keyword.add", "inbound_keyword", new_id, {"keyword": word})
    return get_keyword(conn, actor.workspace_id, int(new_id))


def get_keyword(conn: sa.Connection, workspace_id: int, keyword_id: int) -> dict[str, Any]:
    """Return one workspace keyword or raise NotFound."""
    t = inbound_keywords
    row = (
        conn.execute(sa.select(t).where(t.c.id == keyword_id, t.c.workspace_id == workspace_id))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no keyword {keyword_id}", field="keyword_id", value=keyword_id)
    return dict(row)


def list_keywords(conn: sa.Connection, workspace_id: int) -> list[dict[str, Any]]:
    """Return the workspace's own keywords, alphabetically."""
    t = inbound_keywords
    q = sa.select(t).where(t.c.workspace_id == workspace_id).order_by(t.c.keyword)
    return [dict(r) for r in conn.execute(q).mappings()]


def remove_keyword(conn: sa.Connection, actor: Actor, keyword: str) -> None:
    """Delete a workspace keyword by its text."""
    t = inbound_keywords
    word = kw.normalise(keyword)
    res = conn.execute(
        t.delete().where(t.c.workspace_id == actor.workspace_id, t.c.keyword == word)
    )
    if res.rowcount == 0:
        raise NotFound(f"no keyword {keyword!r}", field="keyword", value=keyword)
    record(conn, actor, "inbound.keyword.remove", "inbound_keyword", None, {"keyword": word})


def custom_keywords(conn: sa.Connection, workspace_id: int) -> list[kw.CustomKeyword]:
    """Return the workspace's keywords as the matcher takes them."""
    return [
        kw.CustomKeyword(
            id=int(r["id"]),
            keyword=r["keyword"],
            action=r["action"],
            language=r["language"],
            channel=r["channel"],
            purpose=r["purpose"],
            campaign_id=r["campaign_id"],
            reply=r["reply"],
            double_opt_in=bool(r["double_opt_in"]),
        )
        for r in list_keywords(conn, workspace_id)
    ]


def phrases_of(settings: Mapping[str, Any]) -> Mapping[str, Sequence[str]]:
    """Return the natural-language opt-out phrases in force for these settings."""
    own = settings.get("opt_out_phrases")
    return kw.DEFAULT_PHRASES if own is None else own
