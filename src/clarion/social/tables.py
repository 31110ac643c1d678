"""Tables of the social feature: connected accounts, posts, and fetched activity.

``social_accounts`` keeps each platform account a workspace connected, its settings and, in a
column of their own, its secrets (tokens, app passwords, OAuth keys), like ``connectors`` does
for SMS providers; ``cursor`` is where the last fetch of its activity stopped. ``social_posts``
is the publishing queue: a post is claimed by moving it to ``publishing`` with a token before
the platform is called, so a crash leaves it visibly ``publishing`` (uncertain) rather than
posting it twice. ``social_activities`` holds what was fetched, unique per account and platform
id so a re-fetch adds nothing; everything downstream reads it by id.
"""

import sqlalchemy as sa

from clarion.db.meta import metadata
from clarion.db.types import BigId, Json, UTCDateTime

social_accounts = sa.Table(
    "social_accounts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    # mastodon, bluesky, x, weibo, wechat_oa
    sa.Column("platform", sa.String(20), nullable=False),
    sa.Column("handle", sa.String(200)),
    sa.Column("settings", Json, nullable=False),
    sa.Column("secrets", Json, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("cursor", sa.String(500)),
    sa.Column("last_fetched_at", UTCDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "name"),
)

social_posts = sa.Table(
    "social_posts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column(
        "account_id", sa.ForeignKey("social_accounts.id", ondelete="CASCADE"), nullable=False
    ),
    # A post may be a step of a campaign (published when the campaign starts).
    sa.Column("campaign_id", BigId),
    # draft, scheduled, publishing, published, failed, uncertain, cancelled
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("link", sa.String(2000)),
    sa.Column("title", sa.String(200)),
    # [{"mime_type", "alt", "data_b64"}]: images are small and belong with their post.
    sa.Column("images", Json, nullable=False, default=list),
    sa.Column("scheduled_at", UTCDateTime),
    sa.Column("claim_token", sa.String(40)),
    sa.Column("claimed_at", UTCDateTime),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("platform_post_id", sa.String(200)),
    sa.Column("url", sa.String(2000)),
    sa.Column("error_code", sa.String(100)),
    sa.Column("error", sa.Text),
    sa.Column("published_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(200)),
    sa.Index("ix_social_posts_due", "status", "scheduled_at"),
    sa.Index("ix_social_posts_campaign", "campaign_id"),
)

social_activities = sa.Table(
    "social_activities",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column(
        "account_id", sa.ForeignKey("social_accounts.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("platform", sa.String(20), nullable=False),
    # mention, comment, reply, follow, share, like
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("activity_id", sa.String(200), nullable=False),
    sa.Column("author_id", sa.String(200), nullable=False),
    sa.Column("author_handle", sa.String(200), nullable=False),
    sa.Column("author_name", sa.String(200)),
    sa.Column("text", sa.Text),
    sa.Column("post_id", sa.String(200)),
    sa.Column("in_reply_to", sa.String(200)),
    sa.Column("mentions", Json, nullable=False, default=list),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("raw", Json, nullable=False, default=dict),
    sa.Column("fetched_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("account_id", "activity_id"),
    sa.Index("ix_social_activities_ws_id", "workspace_id", "id"),
)

# --- identities, ingest and feedback (the social loop) ---------------------------------------
# Links between a platform handle and a contact are ``contact_identities`` rows (namespace = the
# platform, value = the normalised handle; namespace ``<platform>_id`` holds the platform's
# stable user id once an activity showed it), so imports and the API's ``identities`` field
# and a link made here are one and the same thing.

social_link_codes = sa.Table(
    "social_link_codes",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("contact_id", sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    # NULL: the code proves a handle on whichever platform it shows up on.
    sa.Column("platform", sa.String(20)),
    sa.Column("code", sa.String(20), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # pending, used, expired
    sa.Column("message_id", BigId),  # the SMS that carried it
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime),
    sa.Column("activity_row_id", BigId),  # the social_activities row that proved it
    sa.UniqueConstraint("workspace_id", "code"),
    sa.Index("ix_social_link_codes_contact", "contact_id", "status"),
)

social_ingest_cursor = sa.Table(
    "social_ingest_cursor",
    metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("last_id", BigId, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

social_feedback = sa.Table(
    "social_feedback",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("activity_row_id", BigId, nullable=False),
    sa.Column("contact_id", sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("platform", sa.String(20), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # comment, reply
    sa.Column("author_handle", sa.String(200), nullable=False),
    sa.Column("post_id", sa.String(200)),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("sentiment", sa.String(10), nullable=False),  # positive, neutral, negative
    sa.Column("sentiment_score", sa.Float, nullable=False),  # -1 .. 1
    sa.Column("status", sa.String(20), nullable=False),  # open, closed
    sa.Column("at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("activity_row_id"),
    sa.Index("ix_social_feedback_ws_at", "workspace_id", "at"),
)
