"""``clarion segment create/list/show/update/delete/count/sample/breakdown/snapshot/explain``.

Rules are given as compact text (``'country in [US,GB] and not tag(vip)'``), inline JSON
(``'{"all": [...]}'``), a ``rules.json`` file, or ``@file`` (``@-`` for standard input).
Commands that read a segment accept its id, its name, or rules to evaluate without saving.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
import typer

from clarion.cli.common import WorkspaceOpt, cli_actor, console, engine, handle_errors, print_json
from clarion.errors import ValidationFailed
from clarion.segments.query import SegmentRef

segment_app = typer.Typer(
    help="Segments: rules, counts, previews, snapshots.", no_args_is_help=True
)

AtOpt = typer.Option(None, "--at", help="evaluate at this ISO time (default: now)")


def read_rules(spec: str) -> dict[str, Any]:
    """Return JSON rules from text form, inline JSON or ``@file`` (``@-``: stdin)."""
    from clarion.segments.text import parse_text

    if spec.startswith("@"):
        spec = sys.stdin.read() if spec == "@-" else Path(spec[1:]).read_text(encoding="utf-8")
    elif spec.endswith(".json") and Path(spec).is_file():
        spec = Path(spec).read_text(encoding="utf-8")
    if spec.lstrip().startswith("{"):
        try:
            doc = orjson.loads(spec)
        except orjson.JSONDecodeError as exc:
            raise ValidationFailed(f"rules are not valid JSON: {exc}", field="rules") from None
        if not isinstance(doc, dict):
            raise ValidationFailed("rules are a JSON object", field="rules")
        return doc
    return parse_text(spec)


def _segment(conn: sa.Connection, workspace_id: int, spec: str) -> SegmentRef:
    from clarion.segments.tables import segments

    if spec.isdigit():
        return int(spec)
    found = conn.execute(
        sa.select(segments.c.id).where(
            segments.c.workspace_id == workspace_id, segments.c.name == spec
        )
    ).scalar()
    return int(found) if found is not None else read_rules(spec)


def _at(at: str | None) -> datetime | None:
    if at is None:
        return None
    from clarion.db.types import utcnow
    from clarion.segments.dates import parse_date

    try:
        return parse_date(at, utcnow())
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="at", value=at) from None


@segment_app.command("create")
@handle_errors
def create_cmd(
    name: str,
    rules: str = typer.Argument(..., help="text form, JSON, or @file.json"),
    description: str = typer.Option(None, "--description", "-d"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Validate and save a segment; print it."""
    from clarion.segments import service

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        sid = service.create_segment(conn, actor, name, read_rules(rules), description=description)
        print_json(service.get_segment(conn, actor.workspace_id, sid))


@segment_app.command("update")
@handle_errors
def update_cmd(
    segment: int,
    rules: str = typer.Option(None, "--rules", help="text form, JSON, or @file.json"),
    name: str = typer.Option(None, "--name"),
    description: str = typer.Option(None, "--description", "-d"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Change a segment's rules, name or description."""
    from clarion.segments import service

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        service.update_segment(
            conn,
            actor,
            segment,
            name=name,
            rules=read_rules(rules) if rules is not None else None,
            description=description,
        )
        print_json(service.get_segment(conn, actor.workspace_id, segment))


@segment_app.command("delete")
@handle_errors
def delete_cmd(segment: int, workspace: str = WorkspaceOpt) -> None:
    """Delete a segment and its snapshots."""
    from clarion.segments import service

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        service.delete_segment(conn, actor, segment)
    console.print(f"deleted segment {segment}")


@segment_app.command("list")
@handle_errors
def list_cmd(workspace: str = WorkspaceOpt) -> None:
    """List segments with their rules in text form."""
    from clarion.segments import service

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        rows = service.list_segments(conn, actor.workspace_id)
    print_json([{"id": r["id"], "name": r["name"], "text": r["text"]} for r in rows])


@segment_app.command("show")
@handle_errors
def show_cmd(segment: str, workspace: str = WorkspaceOpt) -> None:
    """Show a segment (id or name), or how rules parse (JSON and text)."""
    from clarion.segments import service
    from clarion.segments.rules import parse
    from clarion.segments.text import to_text

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        ref = _segment(conn, actor.workspace_id, segment)
        if isinstance(ref, int):
            print_json(service.get_segment(conn, actor.workspace_id, ref))
        else:
            rules = service.validate_rules(conn, actor.workspace_id, ref)
            print_json({"rules": rules, "text": to_text(parse(rules))})


@segment_app.command("count")
@handle_errors
def count_cmd(segment: str, at: str = AtOpt, workspace: str = WorkspaceOpt) -> None:
    """Count the members of a segment (id, name or rules)."""
    from clarion.segments import query

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        ref = _segment(conn, actor.workspace_id, segment)
        print_json({"count": query.count(conn, actor.workspace_id, ref, at=_at(at))})


@segment_app.command("sample")
@handle_errors
def sample_cmd(
    segment: str,
    limit: int = typer.Option(20, "--limit", "-n"),
    at: str = AtOpt,
    workspace: str = WorkspaceOpt,
) -> None:
    """Print some members (lowest ids first)."""
    from clarion.segments import query

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        ref = _segment(conn, actor.workspace_id, segment)
        print_json(query.sample(conn, actor.workspace_id, ref, limit=limit, at=_at(at)))


@segment_app.command("breakdown")
@handle_errors
def breakdown_cmd(
    segment: str,
    by: str = typer.Option("country", "--by", help="country, phone.carrier, attributes.X, ..."),
    limit: int = typer.Option(50, "--limit", "-n"),
    at: str = AtOpt,
    workspace: str = WorkspaceOpt,
) -> None:
    """Count the members per value of a field."""
    from clarion.segments import query

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        ref = _segment(conn, actor.workspace_id, segment)
        print_json(query.breakdown(conn, actor.workspace_id, ref, by, limit=limit, at=_at(at)))


@segment_app.command("snapshot")
@handle_errors
def snapshot_cmd(
    segment: str,
    list_: bool = typer.Option(False, "--list", help="list the snapshots instead"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Freeze a saved segment's members now (or list its snapshots)."""
    from clarion.segments import service

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        ref = _segment(conn, actor.workspace_id, segment)
        if not isinstance(ref, int):
            raise ValidationFailed(
                "snapshots are of saved segments", field="segment", value=segment
            )
        if list_:
            print_json(service.list_snapshots(conn, actor.workspace_id, ref))
        else:
            print_json(service.take_snapshot(conn, actor, ref))


@segment_app.command("explain")
@handle_errors
def explain_cmd(
    segment: str, contact_id: int, at: str = AtOpt, workspace: str = WorkspaceOpt
) -> None:
    """Say whether a contact is in a segment and which conditions held."""
    from clarion.segments import query

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        ref = _segment(conn, actor.workspace_id, segment)
        print_json(query.explain_membership(conn, actor.workspace_id, ref, contact_id, _at(at)))


def register(app: typer.Typer) -> None:
    app.add_typer(segment_app, name="segment")
