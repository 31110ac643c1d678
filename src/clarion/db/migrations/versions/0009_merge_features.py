"""merge the feature branches (messages, compliance, smpp, segments, campaigns) into one head

The features were developed in parallel, each as a branch off 0001_foundation; this revision joins
them so that later migrations have a single parent.

Revision ID: 0009_merge_features
Revises: 0004_messages, 0005_compliance, 0006_smpp, 0007_segments, 0008_campaigns
Create Date: 2026-11-22 21:30:00
"""

from collections.abc import Sequence

revision: str = "0009_merge_features"
down_revision: str | Sequence[str] | None = (
    "0004_messages",
    "0005_compliance",
    "0006_smpp",
    "0007_segments",
    "0008_campaigns",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
