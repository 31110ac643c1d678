"""``clarion journey load/list/show/pause/resume/archive/runs/path/tick``.

A journey is named by its id or its name. ``load`` reads a YAML or JSON file (several YAML
documents load several journeys) and saves each: new journeys are created, changed ones get a
new version, unchanged ones are left alone.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from clarion.cli.common import WorkspaceOpt, cli_actor, console, engine, handle_errors, print_json
from clarion.errors import ValidationFailed

journey_app = typer.Typer(
    help="Journeys: event-, date- and segment-triggered automations.", no_args_is_help=True
)


@journey_app.command("load")
@handle_errors
def load_cmd(
    file: Path,
    paused: bool = typer.Option(False, "--paused", help="save new journeys paused"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Create or update the journeys defined in FILE (YAML or JSON)."""
    from clarion.automations import service

    eng = engine()
    actor = cli_actor(eng, workspace)
    docs = service.read_definitions(file)
    with eng.begin() as conn:  # all or nothing: a file with one bad journey changes nothing
        saved = [
            service.save_journey(conn, actor, doc, status="paused" if paused else None)
            for doc in docs
        ]
    for j in saved:
        what = "created" if j["created"] else ("new version" if j["changed"] else "unchanged")
        console.print(f"{j['name']}: {what} (version {j['version']}, {j['status']})")
    print_json(
        [
            {k: j[k] for k in ("id", "name", "version", "status", "created", "changed")}
            for j in saved
        ]
    )


@journey_app.command("list")
@handle_errors
def list_cmd(workspace: str = WorkspaceOpt) -> None:
    """List journeys with their run counts."""
    from clarion.automations import service

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(service.list_journeys(conn, actor.workspace_id))


@journey_app.command("show")
@handle_errors
def show_cmd(
    journey: str,
    version: int | None = typer.Option(None, "--version", help="a past version"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Show a journey and its definition."""
    from clarion.automations import service

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(service.get_journey(conn, actor.workspace_id, journey, version=version))


def _status(journey: str, status: str, workspace: str) -> None:
    from clarion.automations import service

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        out = service.set_status(conn, actor, journey, status)
    console.print(f"{out['name']}: {out['status']}")


@journey_app.command("pause")
@handle_errors
def pause_cmd(journey: str, workspace: str = WorkspaceOpt) -> None:
    """Stop entries and hold running runs where they are."""
    _status(journey, "paused", workspace)


@journey_app.command("resume")
@handle_errors
def resume_cmd(journey: str, workspace: str = WorkspaceOpt) -> None:
    """Take entries again; overdue steps run."""
    _status(journey, "active", workspace)


@journey_app.command("archive")
@handle_errors
def archive_cmd(journey: str, workspace: str = WorkspaceOpt) -> None:
    """End the journey for good: active runs exit, history is kept."""
    _status(journey, "archived", workspace)


@journey_app.command("runs")
@handle_errors
def runs_cmd(
    journey: str,
    state: str | None = typer.Option(None, "--state", help="active, completed, goal, ..."),
    contact: int | None = typer.Option(None, "--contact", help="one contact's runs"),
    limit: int = typer.Option(100, "--limit"),
    workspace: str = WorkspaceOpt,
) -> None:
    """List a journey's runs, newest first."""
    from clarion.automations import service

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(
            service.list_runs(
                conn, actor.workspace_id, journey, state=state, contact_id=contact, limit=limit
            )
        )


@journey_app.command("path")
@handle_errors
def path_cmd(journey: str, contact: int, workspace: str = WorkspaceOpt) -> None:
    """Show every step a contact's runs took through a journey."""
    from clarion.automations import service

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        out = service.run_path(conn, actor.workspace_id, journey, contact)
    for run in out["runs"]:
        console.print(f"run {run['id']} (v{run['version']}): {run['state']}", highlight=False)
        for s in run["steps"]:
            msg = f" message {s['message_id']}" if s["message_id"] else ""
            console.print(
                f"  {s['at']:%Y-%m-%d %H:%M:%S}  {s['step']:<20} {s['kind']:<7} {s['outcome']}"
                f"{msg}",
                highlight=False,
            )
    print_json(out)


@journey_app.command("tick")
@handle_errors
def tick_cmd(
    at: str | None = typer.Option(None, "--at", help="run as if it were this ISO time"),
) -> None:
    """Run the journey jobs once (the worker does this every second)."""
    from clarion.automations.jobs import tick

    now = None
    if at is not None:
        try:
            now = datetime.fromisoformat(at)
        except ValueError:
            raise ValidationFailed("--at is an ISO time", field="at", value=at) from None
        if now.tzinfo is None:
            raise ValidationFailed("give --at with its offset (e.g. Z)", field="at", value=at)
    print_json(tick(engine(), now=now))


def register(app: typer.Typer) -> None:
    app.add_typer(journey_app, name="journey")
