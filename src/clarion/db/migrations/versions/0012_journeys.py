"""journeys: definitions and versions, runs, each run's steps, the event cursor, segment members

Revision ID: 0012_journeys
Revises: 0009_merge_features
Create Date: 2026-11-22 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from clarion.db.types import BigId, Json, UTCDateTime

revision: str = "0012_journeys"
down_revision: str | Sequence[str] | None = "0009_merge_features"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "journey_cursors",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_journey_cursors")),
    )
    op.create_table(
        "journeys",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("trigger_kind", sa.String(length=20), nullable=False),
        sa.Column("trigger_event", sa.String(length=100), nullable=True),
        sa.Column("segment_baseline_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("activated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_journeys_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journeys")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_journeys_workspace_id_name")),
    )
    with op.batch_alter_table("journeys", schema=None) as batch_op:
        batch_op.create_index("ix_journeys_status_kind", ["status", "trigger_kind"], unique=False)

    op.create_table(
        "journey_runs",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("journey_id", BigId, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("current_step", sa.String(length=60), nullable=True),
        sa.Column("next_at", UTCDateTime(), nullable=True),
        sa.Column("entered_at", UTCDateTime(), nullable=False),
        sa.Column("trigger_key", sa.String(length=60), nullable=False),
        sa.Column("trigger_event_id", sa.BigInteger(), nullable=True),
        sa.Column("context", Json, nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("exit_reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_journey_runs_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["journey_id"],
            ["journeys.id"],
            name=op.f("fk_journey_runs_journey_id_journeys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_runs")),
        sa.UniqueConstraint(
            "journey_id",
            "contact_id",
            "trigger_key",
            name=op.f("uq_journey_runs_journey_id_contact_id_trigger_key"),
        ),
    )
    with op.batch_alter_table("journey_runs", schema=None) as batch_op:
        batch_op.create_index("ix_journey_runs_contact", ["contact_id", "journey_id"], unique=False)
        batch_op.create_index("ix_journey_runs_due", ["state", "next_at"], unique=False)
        batch_op.create_index(
            "ix_journey_runs_journey_state", ["journey_id", "state"], unique=False
        )

    op.create_table(
        "journey_segment_members",
        sa.Column("journey_id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_journey_segment_members_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["journey_id"],
            ["journeys.id"],
            name=op.f("fk_journey_segment_members_journey_id_journeys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "journey_id", "contact_id", name=op.f("pk_journey_segment_members")
        ),
    )
    op.create_table(
        "journey_versions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("journey_id", BigId, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", Json, nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["journey_id"],
            ["journeys.id"],
            name=op.f("fk_journey_versions_journey_id_journeys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_versions")),
        sa.UniqueConstraint(
            "journey_id", "version", name=op.f("uq_journey_versions_journey_id_version")
        ),
    )
    op.create_table(
        "journey_run_steps",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("run_id", BigId, nullable=False),
        sa.Column("journey_id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("step_id", sa.String(length=60), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("detail", Json, nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["journey_runs.id"],
            name=op.f("fk_journey_run_steps_run_id_journey_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_run_steps")),
    )
    with op.batch_alter_table("journey_run_steps", schema=None) as batch_op:
        batch_op.create_index("ix_journey_run_steps_run", ["run_id", "id"], unique=False)
        batch_op.create_index(
            "ix_journey_run_steps_sends",
            ["journey_id", "contact_id", "outcome", "at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("journey_run_steps", schema=None) as batch_op:
        batch_op.drop_index("ix_journey_run_steps_sends")
        batch_op.drop_index("ix_journey_run_steps_run")

    op.drop_table("journey_run_steps")
    op.drop_table("journey_versions")
    op.drop_table("journey_segment_members")
    with op.batch_alter_table("journey_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_journey_runs_journey_state")
        batch_op.drop_index("ix_journey_runs_due")
        batch_op.drop_index("ix_journey_runs_contact")

    op.drop_table("journey_runs")
    with op.batch_alter_table("journeys", schema=None) as batch_op:
        batch_op.drop_index("ix_journeys_status_kind")

    op.drop_table("journeys")
    op.drop_table("journey_cursors")
