"""Create, edit and move campaigns through their states; every change is audited.

The state machine is a table of allowed moves, so a request the current state forbids (resume a
completed campaign, edit a running one) is refused with a Conflict naming both states, whoever
asks: API, CLI or worker.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import sqlalchemy as sa

from clarion.audit.service import Actor, record
from clarion.campaigns.models import CampaignCreate
from clarion.campaigns.tables import campaign_variants, campaigns
from clarion.db.types import utcnow
from clarion.errors import Conflict, NotFound
from clarion.messages.templates import TemplateError

#: Allowed moves: state -> states it may go to.
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"scheduled", "running", "cancelled"}),
    "scheduled": frozenset({"running", "paused", "cancelled"}),
    "running": frozenset({"paused", "completed", "cancelled"}),
    "paused": frozenset({"running", "scheduled", "cancelled"}),
    "completed": frozenset(),
    "cancelled": frozenset(),
}
#: States in which the dispatcher may send the campaign's due messages.
SENDING_STATES = ("scheduled", "running")


@dataclass(frozen=True, slots=True)
class VariantRow:
    id: int
    name: str
    body: str
    split_bp: int
    locales: dict[str, str]


@dataclass(frozen=True, slots=True)
class Campaign:
    """A campaign as stored, with its variants."""

    id: int
    workspace_id: int
    name: str
    status: str
    channel: str
    purpose: str
    goal_description: str | None
    goal_metric: str | None
    audience: dict[str, Any]
    schedule: dict[str, Any]
    holdout_bp: int
    throughput_per_s: int | None
    frequency_cap: dict[str, Any] | None
    validity_s: int
    budget_cap: float | None
    failover: dict[str, Any]
    variants: tuple[VariantRow, ...]
    status_reason: str | None

    def to_dict(self) -> dict[str, Any]:
        """Return the campaign as a JSON-ready dict."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "variants"}
        out["variants"] = [
            {
                "id": v.id,
                "name": v.name,
                "body": v.body,
                "locales": v.locales,
                "split_pct": v.split_bp / 100,
            }
            for v in self.variants
        ]
        out["holdout_pct"] = self.holdout_bp / 100
        return out


def _split_bps(spec: CampaignCreate) -> list[int]:
    """Return splits in basis points adding up to exactly 10,000 (the last takes the rounding)."""
    if len(spec.variants) == 1:
        return [10_000]
    bps = [round(v.split_pct * 100) for v in spec.variants]
    bps[-1] = 10_000 - sum(bps[:-1])
    return bps


def _columns(spec: CampaignCreate) -> dict[str, Any]:
    return {
        "name": spec.name,
        "channel": spec.channel,
        "purpose": spec.purpose,
        "goal_description": spec.goal_description,
        "goal_metric": spec.goal_metric,
        "audience": spec.audience.model_dump(),
        "schedule": spec.schedule.model_dump(mode="json"),
        "holdout_bp": round(spec.holdout_pct * 100),
        "throughput_per_s": spec.throughput_per_s,
        "frequency_cap": spec.frequency_cap.stored() if spec.frequency_cap else None,
        "validity_s": spec.validity_s,
        "budget_cap": spec.budget_cap,
        "failover": spec.failover.model_dump(),
    }


def _write_variants(conn: sa.Connection, campaign_id: int, spec: CampaignCreate) -> None:
    conn.execute(
        campaign_variants.insert(),
        [
            {
                "campaign_id": campaign_id,
                "name": v.name,
                "body": v.body,
                "locales": v.locales or None,
                "split_bp": bp,
            }
            for v, bp in zip(spec.variants, _split_bps(spec), strict=True)
        ],
    )


def lint_variants(conn: sa.Connection, workspace_id: int, spec: CampaignCreate) -> None:
    """Refuse a campaign whose texts do not lint: every error names the variant, the locale,
    the line and column, before anything is saved (never at send time)."""
    from clarion.campaigns.render import compile_variant
    from clarion.messages.service import workspace_schema

    schema = workspace_schema(conn, workspace_id)
    for i, v in enumerate(spec.variants):
        try:
            compile_variant(v.name, v.body, v.locales, known=schema)
        except TemplateError as exc:
            exc.fields.setdefault("field", f"variants[{i}]")
            raise


def create_campaign(conn: sa.Connection, actor: Actor, spec: CampaignCreate) -> int:
    """Create a draft campaign in the actor's workspace and return its id."""
    lint_variants(conn, actor.workspace_id, spec)
    now = utcnow()
    campaign_id = int(
        conn.execute(
            campaigns.insert()
            .values(
                workspace_id=actor.workspace_id,
                status="draft",
                created_by=actor.label,
                created_at=now,
                updated_at=now,
                **_columns(spec),
            )
            .returning(campaigns.c.id)
        ).scalar_one()
    )
    _write_variants(conn, campaign_id, spec)
    record(conn, actor, "campaign.create", "campaign", campaign_id, {"name": spec.name})
    return campaign_id


def update_campaign(
    conn: sa.Connection, actor: Actor, campaign_id: int, spec: CampaignCreate
) -> None:
    """Replace a draft campaign's definition; anything past draft is refused."""
    current = get_campaign(conn, actor.workspace_id, campaign_id, lock=True)
    if current.status != "draft":
        raise Conflict(
            f"campaign {campaign_id} is {current.status}: only drafts can be edited",
            field="status",
            value=current.status,
        )
    lint_variants(conn, actor.workspace_id, spec)
    conn.execute(
        campaigns.update()
        .where(campaigns.c.id == campaign_id)
        .values(updated_at=utcnow(), **_columns(spec))
    )
    conn.execute(campaign_variants.delete().where(campaign_variants.c.campaign_id == campaign_id))
    _write_variants(conn, campaign_id, spec)
    record(conn, actor, "campaign.update", "campaign", campaign_id, {"name": spec.name})


def get_campaign(
    conn: sa.Connection, workspace_id: int, campaign_id: int, *, lock: bool = False
) -> Campaign:
    """Return a campaign of the workspace or raise NotFound."""
    q = sa.select(campaigns).where(
        campaigns.c.id == campaign_id, campaigns.c.workspace_id == workspace_id
    )
    if lock:
        q = q.with_for_update()
    row = conn.execute(q).first()
    if row is None:
        raise NotFound(f"no campaign {campaign_id}", field="campaign_id", value=campaign_id)
    variants = conn.execute(
        sa.select(campaign_variants)
        .where(campaign_variants.c.campaign_id == campaign_id)
        .order_by(campaign_variants.c.id)
    ).all()
    return Campaign(
        id=int(row.id),
        workspace_id=int(row.workspace_id),
        name=row.name,
        status=row.status,
        channel=row.channel,
        purpose=row.purpose,
        goal_description=row.goal_description,
        goal_metric=row.goal_metric,
        audience=dict(row.audience),
        schedule=dict(row.schedule),
        holdout_bp=int(row.holdout_bp),
        throughput_per_s=row.throughput_per_s,
        frequency_cap=row.frequency_cap,
        validity_s=int(row.validity_s),
        budget_cap=row.budget_cap,
        failover=dict(row.failover),
        variants=tuple(
            VariantRow(int(v.id), v.name, v.body, int(v.split_bp), dict(v.locales or {}))
            for v in variants
        ),
        status_reason=row.status_reason,
    )


def list_campaigns(conn: sa.Connection, workspace_id: int) -> list[dict[str, Any]]:
    """Return the workspace's campaigns, newest first, without their variants."""
    rows = conn.execute(
        sa.select(
            campaigns.c.id,
            campaigns.c.name,
            campaigns.c.status,
            campaigns.c.channel,
            campaigns.c.created_at,
            campaigns.c.launched_at,
            campaigns.c.finished_at,
        )
        .where(campaigns.c.workspace_id == workspace_id)
        .order_by(campaigns.c.id.desc())
    ).mappings()
    return [dict(r) for r in rows]


def transition(
    conn: sa.Connection,
    actor: Actor,
    campaign_id: int,
    to: str,
    *,
    reason: str | None = None,
    expect: tuple[str, ...] | None = None,
) -> str:
    """Move a campaign to state ``to`` if the state machine allows it; return the old state.

    The update is conditional on the state read, so two processes racing to move the same
    campaign cannot both succeed.
    """
    current = get_campaign(conn, actor.workspace_id, campaign_id, lock=True).status
    if (expect is not None and current not in expect) or to not in TRANSITIONS[current]:
        raise Conflict(
            f"campaign {campaign_id} cannot go from {current} to {to}",
            field="status",
            value=current,
            wanted=to,
        )
    now = utcnow()
    values: dict[str, Any] = {"status": to, "updated_at": now, "status_reason": reason}
    if to in ("scheduled", "running") and current == "draft":
        values["launched_at"] = now
    if to in ("completed", "cancelled"):
        values["finished_at"] = now
    res = conn.execute(
        campaigns.update()
        .where(campaigns.c.id == campaign_id, campaigns.c.status == current)
        .values(**values)
    )
    if res.rowcount != 1:
        raise Conflict(f"campaign {campaign_id} changed state meanwhile", field="status")
    record(
        conn,
        actor,
        f"campaign.{to}",
        "campaign",
        campaign_id,
        {"from": current, "to": to, **({"reason": reason} if reason else {})},
    )
    return current
