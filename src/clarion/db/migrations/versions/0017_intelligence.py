"""intelligence: model runs, contact recommendations, basket rules, contact interactions

Revision ID: 0017_intelligence
Revises: 0009_merge_features
Create Date: 2026-11-22 22:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from clarion.db.types import BigId, Json, UTCDateTime

revision: str = "0017_intelligence"
down_revision: str | Sequence[str] | None = "0009_merge_features"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ws_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["workspace_id"], ["workspaces.id"], name=op.f(f"fk_{table}_workspace_id_workspaces")
    )


def upgrade() -> None:
    op.create_table(
        "model_runs",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("model", sa.String(length=50), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("params", Json, nullable=False),
        sa.Column("window_start", UTCDateTime(), nullable=True),
        sa.Column("window_end", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.Column("metrics", Json, nullable=False),
        sa.Column("output", Json, nullable=False),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        _ws_fk("model_runs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_runs")),
    )
    with op.batch_alter_table("model_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_model_runs_ws_model_started", ["workspace_id", "model", "started_at"], unique=False
        )
    op.create_table(
        "contact_recommendations",
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("items", Json, nullable=False),
        sa.Column("run_id", BigId, nullable=True),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_recommendations_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["model_runs.id"],
            name=op.f("fk_contact_recommendations_run_id_model_runs"),
            ondelete="SET NULL",
        ),
        _ws_fk("contact_recommendations"),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_contact_recommendations")),
    )
    op.create_table(
        "basket_rules",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("run_id", BigId, nullable=False),
        sa.Column("antecedent", sa.String(length=100), nullable=False),
        sa.Column("consequent", sa.String(length=100), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("support", sa.Float(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("lift", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["model_runs.id"],
            name=op.f("fk_basket_rules_run_id_model_runs"),
            ondelete="CASCADE",
        ),
        _ws_fk("basket_rules"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_basket_rules")),
    )
    with op.batch_alter_table("basket_rules", schema=None) as batch_op:
        batch_op.create_index(
            "ix_basket_rules_ws_antecedent", ["workspace_id", "antecedent", "lift"], unique=False
        )
    op.create_table(
        "contact_interactions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("source_contact_id", BigId, nullable=False),
        sa.Column("target_contact_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("ref", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_interactions_source_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_interactions_target_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        _ws_fk("contact_interactions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_interactions")),
        sa.UniqueConstraint(
            "workspace_id",
            "kind",
            "ref",
            name=op.f("uq_contact_interactions_workspace_id_kind_ref"),
        ),
    )
    with op.batch_alter_table("contact_interactions", schema=None) as batch_op:
        batch_op.create_index("ix_contact_interactions_ws_at", ["workspace_id", "at"], unique=False)


def downgrade() -> None:
    op.drop_table("contact_interactions")
    op.drop_table("basket_rules")
    op.drop_table("contact_recommendations")
    op.drop_table("model_runs")
