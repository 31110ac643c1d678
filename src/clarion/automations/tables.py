"""Tables of the automations feature: journeys, their versions, runs and each run's path.

A run is a row: which journey version it follows, the step it will do next and when
(``next_at``). A wait is nothing but a future ``next_at``, so a restart loses no wait. The
unique ``(journey_id, contact_id, trigger_key)`` makes enrolment idempotent: the same event
(``e:<event id>``), the same year's birthday (``d:<year>``) or the same segment entry can start
a run only once, however many workers look at it.
"""

import sqlalchemy as sa

from clarion.db.meta import metadata
from clarion.db.types import BigId, Json, UTCDateTime

journeys = sa.Table(
    "journeys",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("description", sa.Text),
    # active, paused, archived
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    # event, date, segment: what the enrolment job scans for this journey
    sa.Column("trigger_kind", sa.String(20), nullable=False),
    sa.Column("trigger_event", sa.String(100)),
    # when a segment trigger took its first look (members then are the baseline, not entries)
    sa.Column("segment_baseline_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("activated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "name"),
    sa.Index("ix_journeys_status_kind", "status", "trigger_kind"),
)

journey_versions = sa.Table(
    "journey_versions",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("journey_id", sa.ForeignKey("journeys.id", ondelete="CASCADE"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("definition", Json, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("journey_id", "version"),
)

journey_runs = sa.Table(
    "journey_runs",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", BigId, nullable=False),
    sa.Column("journey_id", sa.ForeignKey("journeys.id", ondelete="CASCADE"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("contact_id", sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    # active, completed (ran off the end or an exit step), goal (goal event), exited
    # (archived journey), failed
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("current_step", sa.String(60)),
    sa.Column("next_at", UTCDateTime),
    sa.Column("entered_at", UTCDateTime, nullable=False),
    sa.Column("trigger_key", sa.String(60), nullable=False),
    sa.Column("trigger_event_id", sa.BigInteger),
    # the triggering event's name, properties and time, for templates and conditions
    sa.Column("context", Json, nullable=False, default=dict),
    sa.Column("errors", sa.Integer, nullable=False, default=0),
    sa.Column("exit_reason", sa.String(200)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.UniqueConstraint("journey_id", "contact_id", "trigger_key"),
    sa.Index("ix_journey_runs_due", "state", "next_at"),
    sa.Index("ix_journey_runs_contact", "contact_id", "journey_id"),
    sa.Index("ix_journey_runs_journey_state", "journey_id", "state"),
)

journey_run_steps = sa.Table(
    "journey_run_steps",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.ForeignKey("journey_runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("journey_id", BigId, nullable=False),
    sa.Column("contact_id", BigId, nullable=False),
    sa.Column("step_id", sa.String(60), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # enter, wait, branch, send, exit, goal
    # entered, waiting, then, else, sent, refused, skipped, error, exited, goal, completed
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("detail", Json, nullable=False, default=dict),
    sa.Column("message_id", sa.BigInteger),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Index("ix_journey_run_steps_run", "run_id", "id"),
    # frequency rule: sends of a journey to a contact in a window
    sa.Index("ix_journey_run_steps_sends", "journey_id", "contact_id", "outcome", "at"),
)

journey_cursors = sa.Table(
    "journey_cursors",
    metadata,
    # "events": the enrolment job's position in the events table
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

journey_segment_members = sa.Table(
    "journey_segment_members",
    metadata,
    # the members a segment-triggered journey saw last time: entering = now minus these
    sa.Column("journey_id", sa.ForeignKey("journeys.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("contact_id", sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
)
