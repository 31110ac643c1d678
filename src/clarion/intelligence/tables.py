"""Tables of the intelligence feature: model runs (provenance), recommendations, basket rules,
and the contact interaction graph that social influence is computed on.

Per-contact scores live in ``contact_traits`` (segments and templates read them there); these
tables keep what does not fit one value per contact: the run that produced a trait (its model,
parameters, data window and evaluation), the ranked product list per contact, the rules.
"""

import sqlalchemy as sa

from clarion.db.meta import metadata
from clarion.db.types import BigId, Json, UTCDateTime

model_runs = sa.Table(
    "model_runs",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    # rfm, clusters, basket, recommend, send_time, churn, budget, influence
    sa.Column("model", sa.String(50), nullable=False),
    sa.Column("version", sa.String(100), nullable=False),
    sa.Column("params", Json, nullable=False, default=dict),
    # The data the model saw: events and orders in [window_start, window_end).
    sa.Column("window_start", UTCDateTime),
    sa.Column("window_end", UTCDateTime, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # running, finished, failed
    sa.Column("contacts", sa.Integer, nullable=False, default=0),
    sa.Column("metrics", Json, nullable=False, default=dict),
    sa.Column("output", Json, nullable=False, default=dict),
    sa.Column("error", sa.String(1000)),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Index("ix_model_runs_ws_model_started", "workspace_id", "model", "started_at"),
)

contact_recommendations = sa.Table(
    "contact_recommendations",
    metadata,
    # One row per contact: the ranked list as JSON, so serving a batch of contacts at send
    # time is one indexed lookup per batch, not N rows per contact.
    sa.Column("contact_id", sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    # [[product_id, score, source], ...] best first; source: cf, content, popular
    sa.Column("items", Json, nullable=False),
    sa.Column("run_id", sa.ForeignKey("model_runs.id", ondelete="SET NULL")),
    sa.Column("computed_at", UTCDateTime, nullable=False),
)

basket_rules = sa.Table(
    "basket_rules",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("run_id", sa.ForeignKey("model_runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("antecedent", sa.String(100), nullable=False),  # sku
    sa.Column("consequent", sa.String(100), nullable=False),  # sku
    sa.Column("orders", sa.Integer, nullable=False),  # orders holding both
    sa.Column("support", sa.Float, nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("lift", sa.Float, nullable=False),
    sa.Index("ix_basket_rules_ws_antecedent", "workspace_id", "antecedent", "lift"),
)

contact_interactions = sa.Table(
    "contact_interactions",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column(
        "source_contact_id", sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column(
        "target_contact_id", sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("kind", sa.String(20), nullable=False),  # mention, share, referral
    sa.Column("weight", sa.Float, nullable=False, default=1.0),
    sa.Column("at", UTCDateTime, nullable=False),
    # Where it came from (an order's external id, a social post id) so re-syncs add nothing.
    sa.Column("ref", sa.String(200)),
    sa.UniqueConstraint("workspace_id", "kind", "ref"),
    sa.Index("ix_contact_interactions_ws_at", "workspace_id", "at"),
)
