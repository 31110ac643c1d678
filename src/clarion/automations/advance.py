"""Advance due runs: claim a batch, walk each run through its steps until a wait or the end.

A batch is claimed and advanced in one transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
so several workers take disjoint batches; SQLite serialises writers). The messages a send step
queues are written in that same transaction, so a crash before the commit leaves neither the
message nor the step behind and the run is simply due again: nothing is sent twice, nothing is
lost. The send's idempotency key ``journey:<run>:<step>`` guards the same step a second time
(steps only jump forward, so a run takes each step at most once).

Sends are batched: walking a run records its send steps as pending requests, and when every
run of the batch has been walked they go to the send API together (``send_batch``, one call
per workspace and journey, at most ``MAX_BATCH`` requests each), which answers each request in
place: the message, or the refusal that is logged on that run's step. No step looks at a send's
outcome (branches read events and attributes), so deciding the steps first changes no path. The
frequency rule counts a pending send as sent, so within a batch it errs on the side of fewer
messages. Should ``send_batch`` itself raise (not a refusal: a bug or a database error), its
savepoint is rolled back and that group is sent one request at a time, so one bad run still
fails alone (:data:`MAX_ERRORS`) and the rest of the batch goes on.

Everything a step looks at (contacts, tags, traits, events since entry, recent sends for the
frequency rule) is fetched for the whole batch in a few queries; each run then costs Python,
and the batch's steps and run changes are written with one statement each. A run that raises an
unexpected error is left where it was and retried later, then failed after :data:`MAX_ERRORS`
attempts; the rest of the batch goes on.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.automations.conditions import Facts, SeenEvent, holds, matches
from clarion.automations.models import JourneyDefinition, Send, Step
from clarion.automations.service import load_definitions
from clarion.automations.tables import journey_run_steps, journey_runs, journeys
from clarion.automations.timing import recipient_zone, wait_until
from clarion.contacts.tables import contact_tags, contacts
from clarion.db.engine import is_postgres, read_only
from clarion.db.sql import in_values
from clarion.db.types import utcnow
from clarion.errors import ClarionError
from clarion.events.tables import events
from clarion.traits.tables import contact_traits
from clarion.workspaces.tables import workspaces

log = logging.getLogger("clarion.journeys")

BATCH = 200
MAX_ERRORS = 3
RETRY_AFTER = timedelta(minutes=5)


@dataclass(slots=True)
class _Batch:
    """What the runs of one batch may look at, fetched set-based."""

    defs: dict[tuple[int, int], JourneyDefinition]
    contacts: dict[int, dict[str, Any]]
    tags: dict[int, list[str]]
    traits: dict[int, dict[str, Any]]
    events: dict[int, list[SeenEvent]]
    sends: dict[tuple[int, int], list[datetime]]
    zones: dict[int, str]
    log: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class _Pending:
    """A send step decided by a walk, waiting for the batch's call to the send API."""

    run: _Run
    step: dict[str, Any]  # the run's step row, completed when the answer comes
    request: Any  # clarion.sending.service.SendRequest (imported late: sending imports a lot)


def _claim(conn: sa.Connection, now: datetime, limit: int) -> list[sa.RowMapping]:
    q = (
        sa.select(journey_runs)
        .join(journeys, journeys.c.id == journey_runs.c.journey_id)
        .where(
            journey_runs.c.state == "active",
            journey_runs.c.next_at <= now,
            journeys.c.status == "active",
        )
        .order_by(journey_runs.c.next_at, journey_runs.c.id)
        .limit(limit)
    )
    if is_postgres(conn):
        q = q.with_for_update(of=journey_runs, skip_locked=True)
    return list(conn.execute(q).mappings().all())


def _fetch(conn: sa.Connection, runs: list[sa.RowMapping], now: datetime) -> _Batch:
    defs = load_definitions(conn, {(int(r["journey_id"]), int(r["version"])) for r in runs})
    ids = sorted({int(r["contact_id"]) for r in runs})
    people = {
        int(c["id"]): dict(c)
        for c in conn.execute(
            sa.select(contacts).where(in_values(conn, contacts.c.id, ids))
        ).mappings()
    }
    tags: dict[int, list[str]] = defaultdict(list)
    traits: dict[int, dict[str, Any]] = defaultdict(dict)
    uses_fields = any(s.branch for d in defs.values() for s in d.steps)
    if uses_fields:
        for cid, tag in conn.execute(
            sa.select(contact_tags.c.contact_id, contact_tags.c.tag).where(
                in_values(conn, contact_tags.c.contact_id, ids)
            )
        ):
            tags[int(cid)].append(str(tag))
        for cid, name, num, text in conn.execute(
            sa.select(
                contact_traits.c.contact_id,
                contact_traits.c.name,
                contact_traits.c.value_num,
                contact_traits.c.value_text,
            ).where(in_values(conn, contact_traits.c.contact_id, ids))
        ):
            traits[int(cid)][str(name)] = num if num is not None else text
    names = sorted(set().union(*(d.event_names() for d in defs.values())))
    seen: dict[int, list[SeenEvent]] = defaultdict(list)
    if names:
        since = min(r["entered_at"] for r in runs)
        for eid, cid, name, props, at in conn.execute(
            sa.select(
                events.c.id,
                events.c.contact_id,
                events.c.name,
                events.c.properties,
                events.c.occurred_at,
            ).where(
                in_values(conn, events.c.contact_id, ids),
                events.c.name.in_(names),
                events.c.occurred_at >= since,
            )
        ):
            seen[int(cid)].append(SeenEvent(int(eid), str(name), props or {}, at))
    sends: dict[tuple[int, int], list[datetime]] = defaultdict(list)
    windows = [d.frequency.per for d in defs.values() if d.frequency]
    if windows:
        for jid, cid, at in conn.execute(
            sa.select(
                journey_run_steps.c.journey_id,
                journey_run_steps.c.contact_id,
                journey_run_steps.c.at,
            ).where(
                in_values(conn, journey_run_steps.c.contact_id, ids),
                journey_run_steps.c.outcome == "sent",
                journey_run_steps.c.at >= now - max(windows),
            )
        ):
            sends[(int(jid), int(cid))].append(at)
    ws_tz = dict(
        conn.execute(
            sa.select(workspaces.c.id, workspaces.c.timezone).where(
                workspaces.c.id.in_(sorted({int(r["workspace_id"]) for r in runs}))
            )
        ).all()
    )
    zones = {
        cid: recipient_zone(c, ws_tz.get(c["workspace_id"]) or "UTC") for cid, c in people.items()
    }
    return _Batch(defs, people, tags, traits, seen, sends, zones)


class _Run:
    """One run being advanced: its row, what changed, and the steps it took."""

    def __init__(self, row: sa.RowMapping, batch: _Batch, now: datetime) -> None:
        self.row = row
        self.batch = batch
        self.now = now
        self.id = int(row["id"])
        self.journey_id = int(row["journey_id"])
        self.contact_id = int(row["contact_id"])
        self.d = batch.defs[(self.journey_id, int(row["version"]))]
        self.values: dict[str, Any] = {}
        self.steps: list[dict[str, Any]] = []
        self.pending: list[_Pending] = []
        self.error: Exception | None = None  # a send that raised: the run fails, not the batch

    def took(
        self,
        step_id: str,
        kind: str,
        outcome: str,
        detail: dict[str, Any] | None = None,
        message_id: int | None = None,
    ) -> dict[str, Any]:
        self.steps.append(
            {
                "run_id": self.id,
                "journey_id": self.journey_id,
                "contact_id": self.contact_id,
                "step_id": step_id,
                "kind": kind,
                "outcome": outcome,
                "detail": detail or {},
                "message_id": message_id,
                "at": self.now,
            }
        )
        return self.steps[-1]

    def end(self, state: str, reason: str) -> None:
        self.values.update(
            state=state, exit_reason=reason, next_at=None, finished_at=self.now, current_step=None
        )

    def facts(self) -> Facts:
        b = self.batch
        return Facts(
            contact=b.contacts.get(self.contact_id, {}),
            tags=b.tags.get(self.contact_id, []),
            traits=b.traits.get(self.contact_id, {}),
            trigger=(self.row["context"] or {}).get("event") or {},
            entered_at=self.row["entered_at"],
            trigger_event_id=self.row["trigger_event_id"],
            now=self.now,
            events=b.events.get(self.contact_id, []),
        )


def _goal_reached(run: _Run, facts: Facts) -> SeenEvent | None:
    goal = run.d.goal
    if goal is None:
        return None
    for e in facts.events_since_entry(goal.event):
        if matches(e.properties, goal.where):
            return e
    return None


def _send(run: _Run, step: Step, send: Send) -> None:
    """Decide a send step: skip it for the frequency rule, or queue its request as pending."""
    from clarion.sending.service import SendRequest

    freq = run.d.frequency
    key = (run.journey_id, run.contact_id)
    if freq is not None:
        recent = [t for t in run.batch.sends[key] if t > run.now - freq.per]
        if len(recent) >= freq.max:
            run.took(
                step.id,
                "send",
                "skipped",
                {"reason": "frequency", "max": freq.max, "per_s": int(freq.per.total_seconds())},
            )
            return
    trigger = (run.row["context"] or {}).get("event") or {}
    req = SendRequest(
        channel=send.channel,
        contact_id=run.contact_id,
        text=send.text,
        template=send.template,
        variables={
            "event": {**(trigger.get("properties") or {}), "name": trigger.get("name")},
            "journey": {"id": run.journey_id, "run_id": run.id, "step": step.id},
        },
        kind=send.kind,
        purpose=send.purpose,
        sender=send.sender,
        validity=send.validity,
        idempotency_key=f"journey:{run.id}:{step.id}",
        source=f"journey:{run.journey_id}",
        metadata={"journey_id": run.journey_id, "run_id": run.id, "step": step.id},
    )
    run.batch.sends[key].append(run.now)  # counted at once: later runs of this batch see it
    run.pending.append(_Pending(run, run.took(step.id, "send", "pending"), req))


def _answered(p: _Pending, answer: dict[str, Any]) -> None:
    """Complete a pending send's step from the send API's answer (a message or an error)."""
    error = answer.get("error")
    if isinstance(error, dict):
        p.step["outcome"] = "refused"
        p.step["detail"] = {
            "code": error.get("code"),
            "message": error.get("message"),
            **_jsonable(error.get("fields") or {}),
        }
        return
    p.step["outcome"] = "sent"
    p.step["detail"] = {"status": answer.get("status")}
    p.step["message_id"] = int(answer["id"])


def _send_one(conn: sa.Connection, actor: Actor, p: _Pending) -> None:
    """Send one pending request in its own savepoint (the fallback when a batch call raised)."""
    from clarion.sending.service import send_message

    if p.run.error is not None:  # an earlier send of this run raised: the run fails anyway
        return
    try:
        with conn.begin_nested():
            _answered(p, send_message(conn, actor, p.request))
    except ClarionError as exc:
        _answered(p, exc.to_dict())
    except Exception as exc:  # this run's problem: it fails alone
        log.exception("journey run %s: send step %s raised", p.run.id, p.step["step_id"])
        p.run.error = exc


def _flush(conn: sa.Connection, runs: list[_Run]) -> None:
    """Hand every pending send of the batch to the send API, grouped by workspace and journey."""
    from clarion.sending.service import MAX_BATCH, send_batch

    groups: dict[tuple[int, int], list[_Pending]] = defaultdict(list)
    for run in runs:
        for p in run.pending:
            groups[(int(run.row["workspace_id"]), run.journey_id)].append(p)
    for (ws, journey_id), pending in groups.items():
        actor = Actor.system(ws, f"journey:{journey_id}")
        for start in range(0, len(pending), MAX_BATCH):
            chunk = pending[start : start + MAX_BATCH]
            try:
                with conn.begin_nested():
                    answers = send_batch(conn, actor, [p.request for p in chunk])
            except Exception:
                log.exception("send_batch raised for journey %s: sending one by one", journey_id)
                for p in chunk:
                    _send_one(conn, actor, p)
                continue
            for p, answer in zip(chunk, answers, strict=True):
                _answered(p, answer)


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    import orjson

    return dict(orjson.loads(orjson.dumps(fields, default=str)))


def _walk(run: _Run) -> None:
    """Take the run's steps from its current one until a wait in the future or the end."""
    facts = run.facts()
    goal = _goal_reached(run, facts)
    if goal is not None:
        run.took(
            run.row["current_step"] or "(end)",
            "goal",
            "goal",
            {"event": goal.name, "event_id": goal.id},
        )
        run.end("goal", f"goal {goal.name}")
        return
    index = run.d.step_index()
    current = run.row["current_step"]
    at = run.row["next_at"]  # when this step was due: waits count from here, not from the lag
    i = index[current] if current is not None else len(run.d.steps)
    while i < len(run.d.steps):
        step = run.d.steps[i]
        if step.wait is not None:
            zone = run.batch.zones.get(run.contact_id, "UTC")
            until = wait_until(at, step.wait, zone)
            if until > run.now:
                nxt = run.d.steps[i + 1].id if i + 1 < len(run.d.steps) else None
                run.took(step.id, "wait", "waiting", {"until": until.isoformat(), "zone": zone})
                run.values.update(current_step=nxt, next_at=until)
                return
            at = until
            run.took(step.id, "wait", "waited", {"until": until.isoformat()})
            i += 1
        elif step.branch is not None:
            took = holds(step.branch.if_, facts)
            target = step.branch.then if took else step.branch.else_
            run.took(step.id, "branch", "then" if took else "else", {"to": target})
            i = index[target] if target is not None else i + 1
        elif step.send is not None:
            _send(run, step, step.send)
            i += 1
        else:
            assert step.exit is not None
            run.took(step.id, "exit", "completed", {"reason": step.exit.reason})
            run.end("completed", step.exit.reason)
            return
    run.took("(end)", "exit", "completed", {"reason": "end of journey"})
    run.end("completed", "end of journey")


_RUN_COLUMNS = ("state", "current_step", "next_at", "exit_reason", "finished_at")
_UPDATE_RUN = (
    journey_runs.update()
    .where(journey_runs.c.id == sa.bindparam("_id"))
    .values({c: sa.bindparam(c) for c in (*_RUN_COLUMNS, "updated_at")})
)


def _save(conn: sa.Connection, runs: list[_Run], now: datetime) -> None:
    """Write the batch's steps and run changes with one statement each (executemany)."""
    steps = [s for r in runs for s in r.steps]
    if steps:
        conn.execute(journey_run_steps.insert(), steps)
    if runs:
        conn.execute(
            _UPDATE_RUN,
            [
                {
                    "_id": r.id,
                    "updated_at": now,
                    **{c: r.values.get(c, r.row[c]) for c in _RUN_COLUMNS},
                }
                for r in runs
            ],
        )


def _failed(conn: sa.Connection, row: sa.RowMapping, exc: Exception, now: datetime) -> None:
    errors = int(row["errors"]) + 1
    values: dict[str, Any] = {"errors": errors, "updated_at": now}
    if errors >= MAX_ERRORS:
        values.update(
            state="failed", exit_reason=f"error: {exc}"[:200], next_at=None, finished_at=now
        )
    else:
        values["next_at"] = now + RETRY_AFTER
    conn.execute(journey_runs.update().where(journey_runs.c.id == row["id"]).values(**values))
    conn.execute(
        journey_run_steps.insert().values(
            run_id=row["id"],
            journey_id=row["journey_id"],
            contact_id=row["contact_id"],
            step_id=row["current_step"] or "(end)",
            kind="error",
            outcome="failed" if errors >= MAX_ERRORS else "error",
            detail={"error": f"{type(exc).__name__}: {exc}"[:500], "attempt": errors},
            at=now,
        )
    )


def advance_batch(conn: sa.Connection, *, now: datetime, limit: int = BATCH) -> int:
    """Claim up to ``limit`` due runs on ``conn`` and advance each; return how many."""
    rows = _claim(conn, now, limit)
    if not rows:
        return 0
    batch = _fetch(conn, rows, now)
    walked: list[_Run] = []
    for row in rows:
        run = _Run(row, batch, now)
        try:
            # Walking writes nothing: its sends wait for the batch's call to the send API.
            _walk(run)
        except Exception as exc:  # one bad run must not stop the batch
            log.exception("journey run %s failed at step %s", row["id"], row["current_step"])
            _failed(conn, row, exc, now)
            continue
        walked.append(run)
    _flush(conn, walked)
    done: list[_Run] = []
    for run in walked:
        if run.error is not None:
            # Its retry gets the same messages back through their idempotency keys.
            _failed(conn, run.row, run.error, now)
        else:
            done.append(run)
    _save(conn, done, now)
    return len(rows)


def advance_due(
    engine: Engine, *, now: datetime | None = None, limit: int = BATCH, max_batches: int = 50
) -> int:
    """Advance due runs in batches of ``limit``, each its own short transaction."""
    now = now or utcnow()
    with read_only(engine) as probe:  # on SQLite, take the write lock only when work is due
        due = probe.execute(
            sa.select(journey_runs.c.id)
            .where(journey_runs.c.state == "active", journey_runs.c.next_at <= now)
            .limit(1)
        ).first()
    if due is None:
        return 0
    done = 0
    for _ in range(max_batches):
        with engine.begin() as conn:
            n = advance_batch(conn, now=now, limit=limit)
        done += n
        if n < limit:
            break
    return done
