"""The planner: a campaign's audience becomes outbox rows, in chunks, set-based.

Per chunk of contacts (keyset by id): one query reads the contacts with their consent state and
whether they are already planned, Python decides per row (hash, render, parts, route, budget),
then two bulk inserts write the messages and the exclusions. Messages are unique per
(campaign, contact) and inserted with ON CONFLICT DO NOTHING, so running the planner again, or
after a crash half-way, adds nothing that exists already.
"""

from __future__ import annotations

import importlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor, record
from clarion.campaigns.schedule import SendTime, zone
from clarion.campaigns.service import Campaign, get_campaign
from clarion.campaigns.tables import campaign_exclusions, campaigns
from clarion.campaigns.text import compile_body, count_parts, names_used
from clarion.campaigns.variants import assign, bucket
from clarion.compliance import Message, evaluate
from clarion.contacts.tables import contact_tags, contacts
from clarion.db.types import utcnow
from clarion.delivery.bulk import db_time, insert_rows
from clarion.delivery.routes import Route, load_routes, pick_route
from clarion.delivery.tables import messages
from clarion.errors import ValidationFailed
from clarion.workspaces.tables import workspaces

CHUNK = 5000


@dataclass
class PlanReport:
    """What a plan (or an estimate) found: counts, exclusions by reason, parts and cost."""

    audience: int = 0
    planned: int = 0
    holdout: int = 0
    already_planned: int = 0
    excluded: Counter[str] = field(default_factory=Counter)
    parts: int = 0
    cost: float = 0.0
    by_route: dict[str, dict[str, float]] = field(default_factory=dict)
    by_variant: Counter[str] = field(default_factory=Counter)
    budget_reached: bool = False
    #: Cost of the rows that existed before this plan started (for the budget cap).
    base_spent: float | None = None

    def add_route(self, route: Route, parts: int, cost: float) -> None:
        slot = self.by_route.setdefault(route.name, {"messages": 0, "parts": 0, "cost": 0.0})
        slot["messages"] += 1
        slot["parts"] += parts
        slot["cost"] += cost

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dict."""
        return {
            "audience": self.audience,
            "planned": self.planned,
            "holdout": self.holdout,
            "already_planned": self.already_planned,
            "excluded": dict(self.excluded),
            "excluded_total": sum(self.excluded.values()),
            "parts": self.parts,
            "cost": round(self.cost, 4),
            "by_route": {k: {**v, "cost": round(v["cost"], 4)} for k, v in self.by_route.items()},
            "by_variant": dict(self.by_variant),
            "budget_reached": self.budget_reached,
        }


def audience_ids(conn: sa.Connection, camp: Campaign) -> sa.Select[Any]:
    """Return a SELECT of the audience's contact ids (segments, tags, static list)."""
    aud = camp.audience
    ws = camp.workspace_id
    parts: list[sa.ColumnElement[bool]] = []
    # Unary plus on SQLite: it must not answer "workspace = ?" from an index on workspace_id,
    # which would make every chunk read the whole workspace instead of walking the primary key.
    # (PostgreSQL estimates better without it.)
    same_ws = (
        sa.literal_column("+contacts.workspace_id") == ws
        if conn.dialect.name == "sqlite"
        else contacts.c.workspace_id == ws
    )
    if aud.get("all"):
        parts.append(sa.true())
    if aud.get("tags"):
        parts.append(
            contacts.c.id.in_(
                sa.select(contact_tags.c.contact_id).where(contact_tags.c.tag.in_(aud["tags"]))
            )
        )
    if aud.get("contact_ids"):
        parts.append(contacts.c.id.in_(aud["contact_ids"]))
    segment_ids = aud.get("segment_ids") or []
    exclude_ids = aud.get("exclude_segment_ids") or []
    query = _segments_query()
    if (segment_ids or exclude_ids) and query is None:
        raise ValidationFailed(
            "segments are not available in this installation",
            field="audience.segment_ids",
            value=segment_ids,
        )
    if segment_ids and query is not None:
        parts.append(contacts.c.id.in_(query(conn, ws, segment_ids)))
    q = sa.select(contacts.c.id).where(same_ws, sa.or_(*parts))
    if exclude_ids and query is not None:
        q = q.where(contacts.c.id.not_in(query(conn, ws, exclude_ids)))
    return q


def _segments_query() -> Callable[..., sa.Select[Any]] | None:
    """Return ``clarion.segments.query.audience_query`` (None where segments are absent)."""
    try:
        module = importlib.import_module("clarion.segments.query")
    except ImportError:
        return None
    fn = getattr(module, "audience_query", None)
    return fn if callable(fn) else None


def _insert(conn: sa.Connection, table: sa.Table) -> Any:
    ins = postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
    return ins.on_conflict_do_nothing()


#: Outbox columns in the order the planner builds rows, with their PostgreSQL types.
_MESSAGE_COLUMNS = (
    ("workspace_id", "bigint"),
    ("campaign_id", "bigint"),
    ("contact_id", "bigint"),
    ("channel", "text"),
    ("send_at", "timestamptz"),
    ("queued_at", "timestamptz"),
    ("attempts", "int"),
    ("uncertain", "bool"),
    ("variant_id", "bigint"),
    ("holdout", "bool"),
    ("status", "text"),
    ("destination", "text"),
    ("route_id", "bigint"),
    ("body", "text"),
    ("encoding", "text"),
    ("parts", "int"),
    ("cost", "numeric"),
)


def _insert_messages(conn: sa.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert outbox rows in one statement; a (campaign, contact) already there is skipped."""
    insert_rows(
        conn,
        "messages",
        _MESSAGE_COLUMNS,
        rows,
        on_conflict="ON CONFLICT (campaign_id, contact_id) DO NOTHING",
    )


#: Context names filled from contact columns; any other name is a custom attribute.
_CONTACT_FIELDS = ("first_name", "last_name", "phone", "email", "country", "locale")


def _chunk_query(camp: Campaign, audience: sa.Select[Any], after: int, size: int) -> Any:
    # A correlated lookup on the (campaign, contact) unique index: one probe per contact,
    # whatever the statistics say about the growing outbox.
    existing = (
        sa.select(messages.c.id)
        .where(messages.c.campaign_id == camp.id, messages.c.contact_id == contacts.c.id)
        .scalar_subquery()
    )
    cols: list[Any] = [
        contacts.c.id,
        contacts.c.first_name,
        contacts.c.last_name,
        contacts.c.phone,
        contacts.c.email,
        contacts.c.country,
        contacts.c.phone_region,
        contacts.c.phone_carrier,
        contacts.c.timezone,
        contacts.c.phone_timezone,
        contacts.c.locale,
        existing.label("existing"),
    ]
    used = set().union(*(names_used(v.body) for v in camp.variants))
    if used - set(_CONTACT_FIELDS):  # custom attributes: decode the JSON only when needed
        cols.append(contacts.c.attributes)
    joined: Any = contacts
    if camp.schedule.get("kind") == "best_hour":
        from clarion.traits.tables import contact_traits as tr

        joined = joined.outerjoin(
            tr, sa.and_(tr.c.contact_id == contacts.c.id, tr.c.name == "best_hour")
        )
        cols.append(tr.c.value_num.label("best_hour"))
    # The audience's conditions apply to this select directly, so the database walks the
    # primary key from ``after`` and stops after ``size`` rows (an IN over a limited subquery
    # made SQLite scan every contact for every chunk).
    return (
        sa.select(*cols)
        .select_from(joined)
        .where(audience.whereclause if audience.whereclause is not None else sa.true())
        .where(contacts.c.id > after)
        .order_by(contacts.c.id)
        .limit(size)
    )


def _iter_chunks(
    conn: sa.Connection, camp: Campaign, chunk_size: int, after: int = 0
) -> Iterator[Sequence[Any]]:
    audience = audience_ids(conn, camp)
    while True:
        rows = conn.execute(_chunk_query(camp, audience, after, chunk_size)).all()
        if not rows:
            return
        yield rows
        after = int(rows[-1].id)


@dataclass
class _Planner:
    """The per-row decisions of one plan; holds what is compiled once per campaign."""

    conn: sa.Connection
    camp: Campaign
    now: datetime
    report: PlanReport
    dry_run: bool

    def __post_init__(self) -> None:
        self.routes = load_routes(self.conn, self.camp.workspace_id, self.camp.channel)
        self.renderers = {v.id: compile_body(v.body) for v in self.camp.variants}
        self.variant_names = {v.id: v.name for v in self.camp.variants}
        self.splits = [(v.id, v.split_bp) for v in self.camp.variants]
        ws_zone = self.conn.execute(
            sa.select(workspaces.c.timezone).where(workspaces.c.id == self.camp.workspace_id)
        ).scalar_one()
        self.send_time = SendTime(self.camp.schedule, self.now, zone(ws_zone) or ZoneInfo("UTC"))
        self.bodies = {v.id: v.body for v in self.camp.variants}
        self.best_hour = self.camp.schedule.get("kind") == "best_hour"
        self._times: dict[datetime, Any] = {}
        used = set().union(*(names_used(v.body) for v in self.camp.variants))
        self.needs_attributes = bool(used - set(_CONTACT_FIELDS))
        self.address = "email" if self.camp.channel == "email" else "phone"
        if self.report.base_spent is None:
            self.report.base_spent = (
                _spent(self.conn, self.camp.id) if self.camp.budget_cap is not None else 0.0
            )

    @property
    def spent(self) -> float:
        return (self.report.base_spent or 0.0) + self.report.cost

    def chunk(self, rows: Sequence[Any]) -> tuple[list[tuple[Any, ...]], list[dict[str, Any]]]:
        """Decide every row of a chunk; return the outbox rows and the exclusion rows."""
        camp, rep = self.camp, self.report
        pending: list[tuple[Any, int | None, datetime]] = []
        for row in rows:
            rep.audience += 1
            if row.existing is not None:
                rep.already_planned += 1
                continue
            send_at = self.send_time(
                row.timezone or row.phone_timezone, row.best_hour if self.best_hour else None
            )
            variant_id = assign(bucket(camp.id, row.id), camp.holdout_bp, self.splits)
            pending.append((row, variant_id, send_at))
        decisions = self._decisions(pending)
        out: list[tuple[Any, ...]] = []
        excl: list[dict[str, Any]] = []
        for row, variant_id, _ in pending:
            decision = decisions[int(row.id)]
            reason: str | None
            detail: str | None
            if decision.allowed:
                if variant_id is None:
                    rep.holdout += 1
                    out.append(self._holdout_row(row, decision.send_at))
                    continue
                msg, reason, detail = self._message(row, variant_id, decision.send_at)
                if msg is not None:
                    out.append(msg)
                    continue
            else:
                blocking = [r for r in decision.reasons if r.severity == "block"]
                reason = blocking[0].code if blocking else "compliance"
                detail = "; ".join(f"{r.rule}: {r.detail}" for r in blocking)[:500]
            rep.excluded[reason or "unknown"] += 1
            excl.append(
                {
                    "campaign_id": camp.id,
                    "contact_id": row.id,
                    "reason": reason,
                    "detail": detail,
                    "at": self.now,
                }
            )
        return out, excl

    def _decisions(self, pending: Sequence[tuple[Any, int | None, datetime]]) -> dict[int, Any]:
        """Ask the compliance engine once per (variant text, send time) group of the chunk."""
        groups: dict[tuple[int, datetime], list[int]] = defaultdict(list)
        first = self.camp.variants[0].id
        for row, variant_id, send_at in pending:
            groups[(variant_id if variant_id is not None else first, send_at)].append(int(row.id))
        out: dict[int, Any] = {}
        for (variant_id, at), ids in groups.items():
            body = self.bodies[variant_id]
            out.update(
                evaluate(
                    self.conn,
                    self.camp.workspace_id,
                    ids,
                    Message(body, template_source=body),
                    self.camp.purpose,
                    self.camp.channel,
                    at,
                )
            )
        return out

    def _message(
        self, row: Any, variant_id: int, send_at: datetime
    ) -> tuple[tuple[Any, ...] | None, str | None, str | None]:
        camp, rep = self.camp, self.report
        destination = getattr(row, self.address)
        country = row.phone_region or row.country
        route = pick_route(self.routes, destination, country, row.phone_carrier)
        if route is None:
            return None, "no_route", f"no active {camp.channel} route serves {country or '?'}"
        ctx = {
            "first_name": row.first_name or "",
            "last_name": row.last_name or "",
            "phone": row.phone,
            "email": row.email,
            "country": row.country,
            "locale": row.locale,
            **((row.attributes or {}) if self.needs_attributes else {}),
        }
        try:
            body = self.renderers[variant_id](ctx)
        except Exception as exc:  # a template error is this recipient's exclusion, not a crash
            return None, "render_error", str(exc)[:500]
        encoding, parts = count_parts(body) if camp.channel == "sms" else ("utf8", 1)
        cost = parts * route.price_per_part
        if camp.budget_cap is not None and self.spent + cost > camp.budget_cap + 1e-9:
            rep.budget_reached = True
            return None, "budget_cap", f"estimated cost would pass the budget cap {camp.budget_cap}"
        rep.planned += 1
        rep.parts += parts
        rep.cost += cost
        rep.add_route(route, parts, cost)
        rep.by_variant[self.variant_names[variant_id]] += 1
        return (
            self._row(
                row,
                send_at,
                variant_id,
                False,
                "queued",
                destination,
                route.id,
                body,
                encoding,
                parts,
                cost,
            ),
            None,
            None,
        )

    def _time(self, value: datetime) -> Any:
        """Return a timestamp as the driver takes it (converted once per distinct value)."""
        done = self._times.get(value)
        if done is None:
            done = self._times[value] = db_time(self.conn, value)
        return done

    def _row(self, row: Any, send_at: datetime, *rest: Any) -> tuple[Any, ...]:
        """Return an outbox row in ``_MESSAGE_COLUMNS`` order."""
        camp = self.camp
        return (
            camp.workspace_id, camp.id, row.id, camp.channel, self._time(send_at),
            self._time(self.now), 0, False, *rest,
        )  # fmt: skip

    def _holdout_row(self, row: Any, send_at: datetime) -> tuple[Any, ...]:
        return self._row(row, send_at, None, True, "holdout", None, None, None, None, 0, 0.0)


def _spent(conn: sa.Connection, campaign_id: int) -> float:
    total = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(messages.c.cost), 0)).where(
            messages.c.campaign_id == campaign_id
        )
    ).scalar_one()
    return float(total)


def estimate(
    conn: sa.Connection, workspace_id: int, campaign_id: int, *, chunk_size: int = CHUNK
) -> PlanReport:
    """Return what planning the campaign now would do, writing nothing."""
    camp = get_campaign(conn, workspace_id, campaign_id)
    report = PlanReport()
    planner = _Planner(conn, camp, utcnow(), report, dry_run=True)
    for rows in _iter_chunks(conn, camp, chunk_size):
        planner.chunk(rows)
    return report


def plan_chunk(
    conn: sa.Connection,
    actor: Actor,
    campaign_id: int,
    *,
    after: int = 0,
    chunk_size: int = CHUNK,
    report: PlanReport | None = None,
    now: datetime | None = None,
) -> tuple[PlanReport, int | None]:
    """Plan one chunk of the audience after contact id ``after``.

    Return the report (accumulated into ``report`` if given) and the last contact id handled,
    or None when the audience is exhausted.
    """
    camp = get_campaign(conn, actor.workspace_id, campaign_id)
    report = report if report is not None else PlanReport()
    planner = _Planner(conn, camp, now or utcnow(), report, dry_run=False)
    for rows in _iter_chunks(conn, camp, chunk_size, after):
        out, excl = planner.chunk(rows)
        if out:
            _insert_messages(conn, out)
        if excl:
            conn.execute(_insert(conn, campaign_exclusions), excl)
        return report, int(rows[-1].id)
    return report, None


def _refresh_statistics(engine: Engine) -> None:
    """Give SQLite's query planner row counts (sampled, so it takes milliseconds).

    Without statistics SQLite guesses that ``workspace_id = ?`` selects a few rows and scans a
    whole workspace through that index for queries that should use the primary key.
    """
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA analysis_limit=1000")
        for table in ("contacts", "consent_state", "messages", "contact_tags"):
            conn.exec_driver_sql(f"ANALYZE {table}")


def plan_campaign(
    engine: Engine,
    actor: Actor,
    campaign_id: int,
    *,
    chunk_size: int = CHUNK,
    now: datetime | None = None,
) -> PlanReport:
    """Plan the whole audience, committing chunk by chunk (a crash resumes where it stopped).

    ``now`` is the planning instant (schedules and quiet hours count from it); default: now.
    """
    report = PlanReport()
    if engine.dialect.name == "sqlite":
        _refresh_statistics(engine)
    after: int | None = 0
    while after is not None:
        with engine.begin() as conn:
            report, after = plan_chunk(
                conn,
                actor,
                campaign_id,
                after=after,
                chunk_size=chunk_size,
                report=report,
                now=now,
            )
    # The outbox just grew: the dispatcher's claims need the planner to know it.
    if engine.dialect.name == "sqlite":
        _refresh_statistics(engine)
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE messages")
    with engine.begin() as conn:
        conn.execute(
            campaigns.update().where(campaigns.c.id == campaign_id).values(planned_at=utcnow())
        )
        record(conn, actor, "campaign.plan", "campaign", campaign_id, report.to_dict())
    return report
