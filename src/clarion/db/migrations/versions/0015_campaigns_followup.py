"""campaigns follow-up: locale variants of a variant's text, and planning in the worker

``campaign_variants.locales`` holds a variant's text per locale (``{"es": "...", "fr-CA": ...}``).
``campaigns.plan_*`` let a worker plan a launched campaign in steps: where the plan stopped
(``plan_after``, a contact id), what it found so far (``plan_report``), and which worker holds
the plan and until when (``plan_owner``, ``plan_lease_until``) so a dead worker's plan moves on.

Revision ID: 0015_campaigns_followup
Revises: 0009_merge_features
Create Date: 2026-11-22 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from clarion.db.types import Json, UTCDateTime

revision: str = "0015_campaigns_followup"
down_revision: str | Sequence[str] | None = "0009_merge_features"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaign_variants") as batch:
        batch.add_column(sa.Column("locales", Json, nullable=True))
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("plan_after", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("plan_report", Json, nullable=True))
        batch.add_column(sa.Column("plan_owner", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("plan_lease_until", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("plan_lease_until")
        batch.drop_column("plan_owner")
        batch.drop_column("plan_report")
        batch.drop_column("plan_after")
    with op.batch_alter_table("campaign_variants") as batch:
        batch.drop_column("locales")
