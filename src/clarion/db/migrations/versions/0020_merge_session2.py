"""merge the second round of feature branches into one head

Sending, connectors and fallback, journeys, inbound, measurement, the campaign follow-up,
intelligence and social were developed in parallel, each as a branch off 0009_merge_features
(social's loop builds on 0018_social); this revision joins them so that later migrations have
a single parent.

Revision ID: 0020_merge_session2
Revises: 0010_sending, 0011_connectors, 0012_journeys, 0013_inbound, 0014_measurement,
    0015_campaigns_followup, 0017_intelligence, 0019_social_loop
Create Date: 2026-11-23 00:10:00
"""

from collections.abc import Sequence

revision: str = "0020_merge_session2"
down_revision: str | Sequence[str] | None = (
    "0010_sending",
    "0011_connectors",
    "0012_journeys",
    "0013_inbound",
    "0014_measurement",
    "0015_campaigns_followup",
    "0017_intelligence",
    "0019_social_loop",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
