"""Per-workspace tracking settings: the short-link domain, link lifetime and attribution rules.

A workspace without a row uses :data:`DEFAULTS`; a campaign may override the attribution windows
and goal events (``campaign_attribution``). Kept in the database, not in environment variables,
because each brand (workspace) has its own link domain and its own idea of a conversion window.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from pydantic import BaseModel, Field

from clarion.audit.service import Actor, record
from clarion.config import get_settings
from clarion.db.types import utcnow
from clarion.errors import ValidationFailed
from clarion.tracking.tables import campaign_attribution, tracking_settings

DAY = 86_400


@dataclass(frozen=True, slots=True)
class TrackingSettings:
    """The rules in force for one workspace (and, resolved, one campaign)."""

    link_base_url: str
    link_ttl_s: int | None
    click_window_s: int
    delivery_window_s: int
    goal_events: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as JSON-ready values."""
        out = asdict(self)
        out["goal_events"] = list(self.goal_events)
        return out


#: Defaults of a workspace without settings of its own. Short links answer on ``clarion
#: serve``'s default address until a domain is configured; the installation-wide default is
#: ``CLARION_LINK_BASE_URL`` (:class:`clarion.config.Settings`), read when a workspace has no row.
DEFAULTS = TrackingSettings(
    link_base_url="http://127.0.0.1:8000/l",
    link_ttl_s=90 * DAY,
    click_window_s=7 * DAY,
    delivery_window_s=1 * DAY,
    goal_events=(),
)


class TrackingSettingsUpdate(BaseModel):
    """A change to a workspace's tracking settings; fields left out keep their value."""

    link_base_url: str | None = Field(None, max_length=200)
    link_ttl_s: int | None = Field(None, ge=60)
    click_window_s: int | None = Field(None, ge=60, le=90 * DAY)
    delivery_window_s: int | None = Field(None, ge=0, le=90 * DAY)
    goal_events: list[str] | None = Field(None, max_length=50)


class AttributionUpdate(BaseModel):
    """A campaign's own attribution rules; ``None`` means "the workspace's rule"."""

    click_window_s: int | None = Field(None, ge=60, le=90 * DAY)
    delivery_window_s: int | None = Field(None, ge=0, le=90 * DAY)
    goal_events: list[str] | None = Field(None, max_length=50)


def _check_base(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValidationFailed(
            "link_base_url must be an http(s) URL without query or fragment, "
            "e.g. https://go.example.com/l",
            field="link_base_url",
            value=url,
        )
    return url.rstrip("/")


def get_tracking_settings(conn: sa.Connection, workspace_id: int) -> TrackingSettings:
    """Return the workspace's tracking settings (defaults where none are stored)."""
    row = conn.execute(
        sa.select(tracking_settings).where(tracking_settings.c.workspace_id == workspace_id)
    ).first()
    if row is None:
        return replace(DEFAULTS, link_base_url=get_settings().link_base_url.rstrip("/"))
    return TrackingSettings(
        link_base_url=row.link_base_url,
        link_ttl_s=row.link_ttl_s,
        click_window_s=int(row.click_window_s),
        delivery_window_s=int(row.delivery_window_s),
        goal_events=tuple(row.goal_events or ()),
    )


def update_tracking_settings(
    conn: sa.Connection, actor: Actor, change: TrackingSettingsUpdate
) -> TrackingSettings:
    """Change the actor's workspace's tracking settings; return the settings now in force."""
    current = get_tracking_settings(conn, actor.workspace_id)
    given = change.model_dump(exclude_unset=True)
    if "link_base_url" in given and given["link_base_url"] is not None:
        given["link_base_url"] = _check_base(given["link_base_url"])
    if "goal_events" in given:
        given["goal_events"] = tuple(given["goal_events"] or ())
    for key in ("link_base_url", "click_window_s", "delivery_window_s"):
        if key in given and given[key] is None:
            raise ValidationFailed(f"{key} cannot be empty", field=key)
    new = replace(current, **given)
    values = {**new.to_dict(), "updated_at": utcnow()}
    exists = conn.execute(
        sa.select(tracking_settings.c.workspace_id).where(
            tracking_settings.c.workspace_id == actor.workspace_id
        )
    ).first()
    if exists is None:
        conn.execute(tracking_settings.insert().values(workspace_id=actor.workspace_id, **values))
    else:
        conn.execute(
            tracking_settings.update()
            .where(tracking_settings.c.workspace_id == actor.workspace_id)
            .values(**values)
        )
    record(conn, actor, "tracking.settings", "workspace", actor.workspace_id, new.to_dict())
    return new


def campaign_rules(conn: sa.Connection, workspace_id: int, campaign_id: int) -> TrackingSettings:
    """Return the settings that apply to one campaign (its overrides on the workspace's)."""
    base = get_tracking_settings(conn, workspace_id)
    row = conn.execute(
        sa.select(campaign_attribution).where(
            campaign_attribution.c.campaign_id == campaign_id,
            campaign_attribution.c.workspace_id == workspace_id,
        )
    ).first()
    if row is None:
        return base
    return replace(
        base,
        click_window_s=row.click_window_s
        if row.click_window_s is not None
        else base.click_window_s,
        delivery_window_s=row.delivery_window_s
        if row.delivery_window_s is not None
        else base.delivery_window_s,
        goal_events=tuple(row.goal_events) if row.goal_events is not None else base.goal_events,
    )


def set_campaign_rules(
    conn: sa.Connection, actor: Actor, campaign_id: int, rules: AttributionUpdate
) -> TrackingSettings:
    """Store a campaign's own attribution rules; return the rules now in force for it."""
    from clarion.campaigns.service import get_campaign

    get_campaign(conn, actor.workspace_id, campaign_id)  # NotFound for another workspace's
    values = {**rules.model_dump(), "updated_at": utcnow(), "workspace_id": actor.workspace_id}
    conn.execute(
        campaign_attribution.delete().where(campaign_attribution.c.campaign_id == campaign_id)
    )
    conn.execute(campaign_attribution.insert().values(campaign_id=campaign_id, **values))
    record(conn, actor, "campaign.attribution", "campaign", campaign_id, rules.model_dump())
    return campaign_rules(conn, actor.workspace_id, campaign_id)
