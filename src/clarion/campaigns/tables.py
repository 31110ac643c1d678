"""Tables of the campaigns feature.

A campaign's audience, schedule and failover policy are small JSON documents: they are read once
per plan or per worker tick, never filtered on, so columns per option would only add migrations.
Percentages are stored in basis points (1/100 of a percent) so splits add up exactly.
"""

import sqlalchemy as sa

from clarion.db.meta import metadata
from clarion.db.types import BigId, Json, UTCDateTime

Money = sa.Numeric(14, 4, asdecimal=False)

campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    # draft, scheduled, running, paused, completed, cancelled
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("goal_description", sa.Text),
    sa.Column("goal_metric", sa.String(50)),  # conversions, clicks, revenue, delivered, replies
    sa.Column("channel", sa.String(20), nullable=False),  # sms, email, social
    sa.Column("purpose", sa.String(20), nullable=False),  # marketing, transactional
    # {"all": bool, "tags": [...], "contact_ids": [...], "segment_ids": [...],
    #  "exclude_segment_ids": [...]}
    sa.Column("audience", Json, nullable=False),
    # {"kind": "now" | "at" | "local_time" | "best_hour", "at": iso, "local_time": "HH:MM",
    #  "date": "YYYY-MM-DD"}
    sa.Column("schedule", Json, nullable=False),
    sa.Column("holdout_bp", sa.Integer, nullable=False, default=0),
    sa.Column("throughput_per_s", sa.Integer),
    sa.Column("frequency_cap", Json),  # override of the workspace's cap, or null
    sa.Column("validity_s", sa.Integer, nullable=False, default=86400),
    sa.Column("budget_cap", Money),
    # {"on_permanent": bool, "on_receipt_failure": bool, "on_expiry": bool,
    #  "max_transient": int, "fallback_channel": "email" | null, "resend_uncertain": bool,
    #  "error_pause_ratio": float, "error_pause_min": int}
    sa.Column("failover", Json, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("launched_at", UTCDateTime),
    sa.Column("planned_at", UTCDateTime),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("status_reason", sa.String(300)),
    # Planning in steps (in the worker, resumable): the last contact id planned, the counts so
    # far, and the worker holding the plan until its lease runs out.
    sa.Column("plan_after", sa.BigInteger),
    sa.Column("plan_report", Json),
    sa.Column("plan_owner", sa.String(100)),
    sa.Column("plan_lease_until", UTCDateTime),
    sa.Index("ix_campaigns_ws_status", "workspace_id", "status"),
)

campaign_variants = sa.Table(
    "campaign_variants",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("campaign_id", sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(50), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("split_bp", sa.Integer, nullable=False),
    # The text per locale tag ({"es": "...", "fr-CA": "..."}); ``body`` is the default.
    sa.Column("locales", Json),
    sa.UniqueConstraint("campaign_id", "name"),
)

campaign_exclusions = sa.Table(
    "campaign_exclusions",
    metadata,
    sa.Column("campaign_id", sa.ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("contact_id", sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    # no_consent, no_address, no_route, budget_cap, quiet_hours, frequency_cap, ... (compliance)
    sa.Column("reason", sa.String(50), primary_key=True),
    sa.Column("detail", sa.String(500)),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Index("ix_campaign_exclusions_reason", "campaign_id", "reason"),
)
