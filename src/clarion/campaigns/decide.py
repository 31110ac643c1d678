"""The planner's per-recipient decisions for one chunk: who gets what, when, by which route.

Everything that can be decided once per campaign is prepared here once (routes, compiled texts,
send-time cache, the campaign's frequency cap); per chunk, the compliance engine is asked once
per (variant, send time) group, and per row only the hash, the render, the part count and the
route remain. The result is plain tuples in outbox column order, ready for a bulk write.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from clarion.campaigns.render import VariantText, compile_variant, count_parts, recipient_context
from clarion.campaigns.schedule import SendTime, zone
from clarion.campaigns.service import Campaign
from clarion.campaigns.variants import assign, bucket
from clarion.compliance import Message, evaluate
from clarion.compliance.policies import Cap
from clarion.delivery.bulk import db_time
from clarion.delivery.routes import Route, load_routes, pick_route
from clarion.messages.lint import ContextSchema
from clarion.messages.templates import TemplateError
from clarion.workspaces.tables import workspaces

#: Outbox columns in the order the planner builds rows, with their PostgreSQL types.
MESSAGE_COLUMNS = (
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
#: Saved campaigns were linted on save; planning accepts any attribute (one that has since
#: vanished from the sample the linter saw must not stop a launch; defaults still apply).
PLAN_SCHEMA = ContextSchema(open_attributes=True)


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
    #: Cost in the outbox this report does not count (rows from before; for the budget cap).
    base_spent: float = 0.0

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

    def state(self) -> dict[str, Any]:
        """Return the exact counts to store with a plan checkpoint (unrounded)."""
        out = self.to_dict()
        out["cost"] = self.cost
        out["by_route"] = {k: dict(v) for k, v in self.by_route.items()}
        return out

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> PlanReport:
        """Return the report a checkpoint stored (an empty one for None)."""
        if not state:
            return cls()
        return cls(
            audience=int(state["audience"]),
            planned=int(state["planned"]),
            holdout=int(state["holdout"]),
            already_planned=int(state["already_planned"]),
            excluded=Counter(state["excluded"]),
            parts=int(state["parts"]),
            cost=float(state["cost"]),
            by_route={k: dict(v) for k, v in state["by_route"].items()},
            by_variant=Counter(state["by_variant"]),
            budget_reached=bool(state["budget_reached"]),
        )


def campaign_caps(camp: Campaign) -> tuple[Cap, ...]:
    """Return the campaign's own frequency cap as compliance caps (none when not set)."""
    cap = camp.frequency_cap
    if not cap:
        return ()
    return (Cap(int(cap["count"]), int(cap["hours"])),)


class ChunkDecider:
    """Decide every row of a chunk; holds what is compiled once per campaign."""

    def __init__(
        self,
        conn: sa.Connection,
        camp: Campaign,
        now: datetime,
        report: PlanReport,
        texts: dict[int, VariantText] | None = None,
    ) -> None:
        self.camp = camp
        self.now = now
        self.report = report
        self.routes = load_routes(conn, camp.workspace_id, camp.channel)
        self.texts = texts if texts is not None else compile_texts(camp)
        self.variant_names = {v.id: v.name for v in camp.variants}
        self.splits = [(v.id, v.split_bp) for v in camp.variants]
        ws_zone = conn.execute(
            sa.select(workspaces.c.timezone).where(workspaces.c.id == camp.workspace_id)
        ).scalar_one()
        self.send_time = SendTime(camp.schedule, now, zone(ws_zone) or ZoneInfo("UTC"))
        self.address = "email" if camp.channel == "email" else "phone"
        self.caps = campaign_caps(camp)
        self._times: dict[datetime, Any] = {}
        self._routes: dict[tuple[str | None, str | None, str | None], Route | None] = {}
        self._prefixed = any(r.prefixes for r in self.routes)
        self._conn = conn  # only its dialect is used, to convert timestamps

    @property
    def spent(self) -> float:
        return self.report.base_spent + self.report.cost

    def chunk(
        self,
        conn: sa.Connection,
        rows: Sequence[Any],
        extras: tuple[dict[int, list[str]], dict[int, dict[str, str]]],
        links: Any = None,
    ) -> tuple[list[tuple[Any, ...]], list[dict[str, Any]]]:
        """Decide every row of a chunk; return the outbox rows and the exclusion rows."""
        camp, rep = self.camp, self.report
        pending: list[tuple[Any, int | None, datetime]] = []
        for row in rows:
            rep.audience += 1
            if row.existing is not None:
                rep.already_planned += 1
                continue
            send_at = self.send_time(row.timezone or row.phone_timezone, row.best_hour)
            variant_id = assign(bucket(camp.id, row.id), camp.holdout_bp, self.splits)
            pending.append((row, variant_id, send_at))
        decisions = self._decisions(conn, pending)
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
                msg, reason, detail = self._message(
                    row, variant_id, decision.send_at, extras, links
                )
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

    def _decisions(
        self, conn: sa.Connection, pending: Sequence[tuple[Any, int | None, datetime]]
    ) -> dict[int, Any]:
        """Ask the compliance engine once per (variant text, send time) group of the chunk."""
        groups: dict[tuple[str, datetime], list[int]] = defaultdict(list)
        first = self.camp.variants[0].id
        read = {row.id: row for row, _, _ in pending}
        for row, variant_id, send_at in pending:
            text = self.texts[variant_id if variant_id is not None else first]
            # The text this recipient would get (their locale's, else the default) is what
            # the content rules judge; a holdout recipient is judged on the first variant.
            body = text.localized.pick(row.locale).source if text.has_locales else text.source
            groups[(body, send_at)].append(int(row.id))
        out: dict[int, Any] = {}
        for (body, at), ids in groups.items():
            out.update(
                evaluate(
                    conn,
                    self.camp.workspace_id,
                    ids,
                    Message(body, template_source=body),
                    self.camp.purpose,
                    self.camp.channel,
                    at,
                    caps=self.caps,
                    contacts_read=read,
                    consent_read=True,  # the chunk read joined it (ChunkReader)
                )
            )
        return out

    def _route(self, destination: str | None, country: str | None, carrier: str | None) -> Any:
        if self._prefixed:  # routes by number prefix: the destination itself decides
            return pick_route(self.routes, destination, country, carrier)
        key = (country, carrier, None)
        if key not in self._routes:
            self._routes[key] = pick_route(self.routes, destination, country, carrier)
        return self._routes[key]

    def _message(
        self,
        row: Any,
        variant_id: int,
        send_at: datetime,
        extras: tuple[dict[int, list[str]], dict[int, dict[str, str]]],
        links: Any,
    ) -> tuple[tuple[Any, ...] | None, str | None, str | None]:
        camp, rep = self.camp, self.report
        destination = getattr(row, self.address)
        country = row.phone_region or row.country
        route = self._route(destination, country, row.phone_carrier)
        if route is None:
            return None, "no_route", f"no active {camp.channel} route serves {country or '?'}"
        try:
            body = self.texts[variant_id].render(self._context(row, variant_id, extras, links))
        except TemplateError as exc:  # a template error is this recipient's exclusion
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
                row, send_at, variant_id, False, "queued", destination, route.id, body, encoding,
                parts, cost,
            ),
            None,
            None,
        )  # fmt: skip

    def _context(
        self,
        row: Any,
        variant_id: int,
        extras: tuple[dict[int, list[str]], dict[int, dict[str, str]]],
        links: Any,
    ) -> dict[str, Any]:
        text = self.texts[variant_id]
        contact = dict(zip(text.columns, text.values(row), strict=True))
        cid = int(row.id)
        tags, idents = extras
        if text.reads_tags:
            contact["tags"] = tags.get(cid, [])
        if text.reads_identities:
            contact["identities"] = idents.get(cid, {})
        attrs = row.attributes if isinstance(row.attributes, dict) else {}
        contact["attributes"] = attrs
        ctx = recipient_context(
            contact,
            attrs,
            now=self.now,
            locale=row.locale,
            zone=row.timezone or row.phone_timezone,
        )
        if links is not None:  # link(url): a short link of this recipient's own
            links.recipient = (cid, variant_id)
            ctx["link"] = links.link
        return ctx

    def _time(self, value: datetime) -> Any:
        """Return a timestamp as the driver takes it (converted once per distinct value)."""
        done = self._times.get(value)
        if done is None:
            done = self._times[value] = db_time(self._conn, value)
        return done

    def _row(self, row: Any, send_at: datetime, *rest: Any) -> tuple[Any, ...]:
        """Return an outbox row in ``MESSAGE_COLUMNS`` order."""
        camp = self.camp
        return (
            camp.workspace_id, camp.id, row.id, camp.channel, self._time(send_at),
            self._time(self.now), 0, False, *rest,
        )  # fmt: skip

    def _holdout_row(self, row: Any, send_at: datetime) -> tuple[Any, ...]:
        return self._row(row, send_at, None, True, "holdout", None, None, None, None, 0, 0.0)


def compile_texts(camp: Campaign) -> dict[int, VariantText]:
    """Compile every variant of the campaign once (variant id -> text)."""
    return {
        v.id: compile_variant(v.name, v.body, v.locales, known=PLAN_SCHEMA) for v in camp.variants
    }
