"""Write and read journeys: save (a new version when the definition changes), status, lookups.

These functions are the only writers of ``journeys`` and ``journey_versions``. A run keeps the
version it entered with: saving a changed definition adds a version and moves the journey's
``version`` on, and new runs follow the new one while running runs finish on theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
import yaml

from clarion.audit.service import Actor, record
from clarion.automations.models import JourneyDefinition, definition_doc, parse_definition
from clarion.automations.tables import journey_run_steps, journey_runs, journey_versions, journeys
from clarion.db.types import utcnow
from clarion.errors import Conflict, NotFound, ValidationFailed

STATUSES = ("active", "paused", "archived")
JourneyRef = int | str


def read_definitions(path: str | Path) -> list[dict[str, Any]]:
    """Return the journey documents in a YAML or JSON file (YAML may hold several, ``---``)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationFailed(
            f"cannot read {p}: {exc.strerror}", field="file", value=str(p)
        ) from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = {"line": mark.line + 1, "column": mark.column + 1} if mark else {}
        raise ValidationFailed(
            f"{p.name} is not valid YAML/JSON: {getattr(exc, 'problem', exc)}",
            field="file",
            value=str(p),
            **where,
        ) from None
    if not docs:
        raise ValidationFailed(f"{p.name} holds no journey", field="file", value=str(p))
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict):
            raise ValidationFailed(
                f"document {i + 1} of {p.name} is not a journey object", field="file", value=str(p)
            )
    return docs


def _check_references(conn: sa.Connection, workspace_id: int, d: JourneyDefinition) -> None:
    """Refuse a definition naming a template or segment the workspace does not have."""
    from clarion.messages.service import get_template
    from clarion.segments.tables import segments

    for i, step in enumerate(d.steps):
        if step.send is None or step.send.template is None:
            continue
        try:
            get_template(conn, workspace_id, step.send.template, channel=step.send.channel)
        except NotFound:
            raise ValidationFailed(
                f"steps[{i}] (id {step.id!r}).send.template: no {step.send.channel} template "
                f"{step.send.template!r}",
                field=f"steps[{i}] (id {step.id!r}).send.template",
                step=step.id,
                value=step.send.template,
            ) from None
    ref = d.trigger.segment
    if ref is not None:
        col = segments.c.id if isinstance(ref, int) else segments.c.name
        found = conn.execute(
            sa.select(segments.c.id).where(segments.c.workspace_id == workspace_id, col == ref)
        ).first()
        if found is None:
            raise ValidationFailed(
                f"trigger.segment: no segment {ref!r}", field="trigger.segment", value=ref
            )


def _find(conn: sa.Connection, workspace_id: int, ref: JourneyRef) -> sa.RowMapping:
    q = sa.select(journeys).where(journeys.c.workspace_id == workspace_id)
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        q = q.where(journeys.c.id == int(ref))
    else:
        q = q.where(journeys.c.name == ref)
    row = conn.execute(q).mappings().first()
    if row is None:
        raise NotFound(f"no journey {ref!r}", field="journey", value=ref)
    return row


def save_journey(
    conn: sa.Connection, actor: Actor, doc: Mapping[str, Any], *, status: str | None = None
) -> dict[str, Any]:
    """Create the journey named in ``doc`` or give it a new version if its definition changed.

    Returns the journey (as :func:`get_journey`) with ``created`` and ``changed`` flags. A new
    journey is ``active`` unless ``status`` says ``paused``; an existing one keeps its status
    unless ``status`` is given.
    """
    if status is not None and status not in ("active", "paused"):
        raise ValidationFailed("a saved journey is active or paused", field="status", value=status)
    d = parse_definition(dict(doc))
    ws = actor.workspace_id
    _check_references(conn, ws, d)
    canonical = definition_doc(d)
    now = utcnow()
    existing = (
        conn.execute(
            sa.select(journeys).where(journeys.c.workspace_id == ws, journeys.c.name == d.name)
        )
        .mappings()
        .first()
    )
    head = {
        "description": d.description,
        "trigger_kind": d.trigger.kind,
        "trigger_event": d.trigger.event,
        "updated_at": now,
    }
    if existing is None:
        jid = conn.execute(
            journeys.insert()
            .values(
                workspace_id=ws,
                name=d.name,
                status=status or "active",
                version=1,
                created_at=now,
                activated_at=now,
                **head,
            )
            .returning(journeys.c.id)
        ).scalar_one()
        version, created, changed = 1, True, True
    else:
        if existing["status"] == "archived":
            raise Conflict(
                f"journey {d.name!r} is archived; give the new one another name",
                field="name",
                value=d.name,
            )
        jid = existing["id"]
        current = conn.execute(
            sa.select(journey_versions.c.definition).where(
                journey_versions.c.journey_id == jid,
                journey_versions.c.version == existing["version"],
            )
        ).scalar_one()
        changed = _canonical(current) != _canonical(canonical)
        version = existing["version"] + (1 if changed else 0)
        values: dict[str, Any] = {**head, "version": version} if changed else {}
        if status is not None and status != existing["status"]:
            values.update(status=status, updated_at=now)
            if status == "active":
                values["activated_at"] = now
        if values:
            conn.execute(journeys.update().where(journeys.c.id == jid).values(**values))
        created = False
    if d.trigger.event is not None:
        from clarion.automations.enrol import ensure_cursor

        ensure_cursor(conn)  # events from now on are read, not the history before the first journey
    if changed:
        conn.execute(
            journey_versions.insert().values(
                journey_id=jid,
                version=version,
                definition=canonical,
                created_by=actor.label,
                created_at=now,
            )
        )
        record(conn, actor, "journey.save", "journey", jid, {"name": d.name, "version": version})
    out = get_journey(conn, ws, int(jid))
    out.update(created=created, changed=changed)
    return out


def _canonical(doc: Any) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def set_status(conn: sa.Connection, actor: Actor, ref: JourneyRef, status: str) -> dict[str, Any]:
    """Pause, resume (``active``) or archive a journey.

    Paused: nobody enters and running runs stay where they are (their waits keep counting;
    overdue steps run on resume). Archived: for good; every active run ends as ``exited``.
    """
    if status not in STATUSES:
        raise ValidationFailed(
            f"status is one of {', '.join(STATUSES)}", field="status", value=status
        )
    row = _find(conn, actor.workspace_id, ref)
    if row["status"] == "archived" and status != "archived":
        raise Conflict(f"journey {row['name']!r} is archived", field="status", value=status)
    now = utcnow()
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if status == "active" and row["status"] != "active":
        values["activated_at"] = now
    conn.execute(journeys.update().where(journeys.c.id == row["id"]).values(**values))
    ended = 0
    if status == "archived":
        ended = end_runs(conn, int(row["id"]), "exited", "journey archived", now=now)
    record(
        conn,
        actor,
        f"journey.{status}",
        "journey",
        row["id"],
        {"name": row["name"], "ended": ended},
    )
    return get_journey(conn, actor.workspace_id, int(row["id"]))


def end_runs(
    conn: sa.Connection,
    journey_id: int,
    state: str,
    reason: str,
    *,
    now: Any,
    run_ids: list[int] | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """End active runs of a journey (all, or ``run_ids``) set-based, logging one step each."""
    where = [journey_runs.c.journey_id == journey_id, journey_runs.c.state == "active"]
    if run_ids is not None:
        from clarion.db.sql import in_values

        where.append(in_values(conn, journey_runs.c.id, run_ids))
    conn.execute(
        journey_run_steps.insert().from_select(
            ["run_id", "journey_id", "contact_id", "step_id", "kind", "outcome", "detail", "at"],
            sa.select(
                journey_runs.c.id,
                journey_runs.c.journey_id,
                journey_runs.c.contact_id,
                sa.func.coalesce(journey_runs.c.current_step, "(end)"),
                sa.literal("goal" if state == "goal" else "exit"),
                sa.literal(state),
                sa.literal({"reason": reason, **(detail or {})}, journey_run_steps.c.detail.type),
                sa.literal(now, journey_run_steps.c.at.type),
            ).where(*where),
        )
    )
    res = conn.execute(
        journey_runs.update()
        .where(*where)
        .values(state=state, exit_reason=reason, next_at=None, finished_at=now, updated_at=now)
    )
    return int(res.rowcount or 0)


def _counts(conn: sa.Connection, journey_ids: list[int]) -> dict[int, dict[str, int]]:
    if not journey_ids:
        return {}
    rows = conn.execute(
        sa.select(journey_runs.c.journey_id, journey_runs.c.state, sa.func.count())
        .where(journey_runs.c.journey_id.in_(journey_ids))
        .group_by(journey_runs.c.journey_id, journey_runs.c.state)
    ).all()
    out: dict[int, dict[str, int]] = {j: {} for j in journey_ids}
    for jid, state, n in rows:
        out[int(jid)][str(state)] = int(n)
    return out


def _public(row: sa.RowMapping, runs: dict[str, int]) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "name": row["name"],
        "description": row["description"],
        "status": row["status"],
        "version": int(row["version"]),
        "trigger": row["trigger_kind"],
        "trigger_event": row["trigger_event"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "runs": runs,
    }


def get_journey(
    conn: sa.Connection, workspace_id: int, ref: JourneyRef, *, version: int | None = None
) -> dict[str, Any]:
    """Return a journey with its definition (the current version, or ``version``)."""
    row = _find(conn, workspace_id, ref)
    out = _public(row, _counts(conn, [int(row["id"])])[int(row["id"])])
    v = version or int(row["version"])
    found = (
        conn.execute(
            sa.select(journey_versions).where(
                journey_versions.c.journey_id == row["id"], journey_versions.c.version == v
            )
        )
        .mappings()
        .first()
    )
    if found is None:
        raise NotFound(f"journey {row['name']!r} has no version {v}", field="version", value=v)
    out["definition"] = found["definition"]
    out["definition_version"] = v
    out["versions"] = [
        int(x)
        for x in conn.execute(
            sa.select(journey_versions.c.version)
            .where(journey_versions.c.journey_id == row["id"])
            .order_by(journey_versions.c.version)
        ).scalars()
    ]
    return out


def list_journeys(conn: sa.Connection, workspace_id: int) -> list[dict[str, Any]]:
    """Return the workspace's journeys by name, with run counts by state."""
    rows = (
        conn.execute(
            sa.select(journeys)
            .where(journeys.c.workspace_id == workspace_id)
            .order_by(journeys.c.name)
        )
        .mappings()
        .all()
    )
    counts = _counts(conn, [int(r["id"]) for r in rows])
    return [_public(r, counts[int(r["id"])]) for r in rows]


@lru_cache(maxsize=512)
def _definition(journey_id: int, version: int, doc_json: bytes) -> JourneyDefinition:
    return parse_definition(orjson.loads(doc_json))


def load_definitions(
    conn: sa.Connection, keys: set[tuple[int, int]]
) -> dict[tuple[int, int], JourneyDefinition]:
    """Return the parsed definitions of ``(journey_id, version)`` pairs (parsed once each)."""
    if not keys:
        return {}
    rows = conn.execute(
        sa.select(
            journey_versions.c.journey_id, journey_versions.c.version, journey_versions.c.definition
        ).where(
            sa.tuple_(journey_versions.c.journey_id, journey_versions.c.version).in_(sorted(keys))
        )
    ).all()
    return {(int(j), int(v)): _definition(int(j), int(v), _canonical(doc)) for j, v, doc in rows}


def list_runs(
    conn: sa.Connection,
    workspace_id: int,
    ref: JourneyRef,
    *,
    state: str | None = None,
    contact_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Return a journey's runs, newest first, optionally of one state or one contact."""
    if not 1 <= limit <= 10000:
        raise ValidationFailed("limit is between 1 and 10000", field="limit", value=limit)
    row = _find(conn, workspace_id, ref)
    q = sa.select(journey_runs).where(journey_runs.c.journey_id == row["id"])
    if state is not None:
        q = q.where(journey_runs.c.state == state)
    if contact_id is not None:
        q = q.where(journey_runs.c.contact_id == contact_id)
    rows = conn.execute(q.order_by(journey_runs.c.id.desc()).limit(limit)).mappings()
    return [_run(r) for r in rows]


def _run(r: sa.RowMapping) -> dict[str, Any]:
    return {
        "id": int(r["id"]),
        "journey_id": int(r["journey_id"]),
        "version": int(r["version"]),
        "contact_id": int(r["contact_id"]),
        "state": r["state"],
        "current_step": r["current_step"],
        "next_at": r["next_at"],
        "entered_at": r["entered_at"],
        "trigger_key": r["trigger_key"],
        "trigger_event_id": r["trigger_event_id"],
        "exit_reason": r["exit_reason"],
        "finished_at": r["finished_at"],
    }


def run_path(
    conn: sa.Connection, workspace_id: int, ref: JourneyRef, contact_id: int
) -> dict[str, Any]:
    """Return every run of a contact in a journey with each step it took, in order."""
    row = _find(conn, workspace_id, ref)
    runs = [
        _run(r)
        for r in conn.execute(
            sa.select(journey_runs)
            .where(journey_runs.c.journey_id == row["id"], journey_runs.c.contact_id == contact_id)
            .order_by(journey_runs.c.id)
        ).mappings()
    ]
    steps: dict[int, list[dict[str, Any]]] = {r["id"]: [] for r in runs}
    if runs:
        for s in conn.execute(
            sa.select(journey_run_steps)
            .where(journey_run_steps.c.run_id.in_(list(steps)))
            .order_by(journey_run_steps.c.id)
        ).mappings():
            steps[int(s["run_id"])].append(
                {
                    "step": s["step_id"],
                    "kind": s["kind"],
                    "outcome": s["outcome"],
                    "detail": s["detail"],
                    "message_id": s["message_id"],
                    "at": s["at"],
                }
            )
    for r in runs:
        r["steps"] = steps[r["id"]]
    return {"journey": row["name"], "contact_id": contact_id, "runs": runs}
