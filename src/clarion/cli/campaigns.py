"""``clarion campaign ...`` and ``clarion route ...``: thin over the campaign and route services."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from clarion.cli.common import WorkspaceOpt, cli_actor, console, engine, handle_errors, print_json
from clarion.errors import ValidationFailed

campaign_app = typer.Typer(
    help="Create, estimate, launch and control campaigns.", no_args_is_help=True
)
route_app = typer.Typer(
    help="Routes: which connector carries which destinations.", no_args_is_help=True
)


def _spec(
    spec: Path | None, name: str | None, body: list[str], tag: list[str], everyone: bool
) -> dict[str, Any]:
    """Build a campaign document from a JSON file and/or options."""
    doc: dict[str, Any] = orjson.loads(spec.read_bytes()) if spec else {}
    if name:
        doc["name"] = name
    if body:
        doc["variants"] = [
            {"name": chr(ord("A") + i), "body": b, "split_pct": round(100 / len(body), 4)}
            for i, b in enumerate(body)
        ]
    if tag or everyone:
        doc["audience"] = {"tags": tag, "all": everyone}
    if "name" not in doc or "variants" not in doc:
        raise ValidationFailed("give --spec FILE or --name and --body", field="spec")
    return doc


@campaign_app.command("create")
@handle_errors
def create(
    spec: Path | None = typer.Option(
        None, exists=True, help="campaign JSON (see docs/campaigns.md)"
    ),
    name: str | None = typer.Option(None, help="campaign name"),
    body: list[str] = typer.Option([], help="variant text, repeatable (A, B, ...; even split)"),
    tag: list[str] = typer.Option([], help="audience: contacts with this tag, repeatable"),
    everyone: bool = typer.Option(False, "--all", help="audience: every contact"),
    holdout: float | None = typer.Option(None, help="holdout (control) percentage"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Create a draft campaign; print it."""
    from clarion.campaigns.models import CampaignCreate
    from clarion.campaigns.service import create_campaign, get_campaign

    doc = _spec(spec, name, body, tag, everyone)
    if holdout is not None:
        doc["holdout_pct"] = holdout
    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        cid = create_campaign(conn, actor, CampaignCreate.model_validate(doc))
        print_json(get_campaign(conn, actor.workspace_id, cid).to_dict())


@campaign_app.command("list")
@handle_errors
def list_(workspace: str = WorkspaceOpt) -> None:
    """List campaigns, newest first."""
    from clarion.campaigns.service import list_campaigns

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(list_campaigns(conn, actor.workspace_id))


@campaign_app.command("estimate")
@handle_errors
def estimate_cmd(campaign_id: int, workspace: str = WorkspaceOpt) -> None:
    """Audience size, exclusions by reason, parts and cost per route (writes nothing)."""
    from clarion.campaigns.planner import estimate

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(estimate(conn, actor.workspace_id, campaign_id).to_dict())


@campaign_app.command("test-send")
@handle_errors
def test_send_cmd(
    campaign_id: int,
    to: list[str] = typer.Option(..., help="a number in international form, repeatable"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Send every variant to the given numbers now (not to the audience)."""
    from clarion.campaigns.testsend import test_send

    eng = engine()
    actor = cli_actor(eng, workspace)
    print_json(asyncio.run(test_send(eng, actor, campaign_id, to)))


@campaign_app.command("launch")
@handle_errors
def launch_cmd(
    campaign_id: int,
    wait: bool = typer.Option(
        False, "--wait", help="plan the audience here and print the plan (else a worker plans it)"
    ),
    workspace: str = WorkspaceOpt,
) -> None:
    """Launch a draft; a worker plans its audience into the outbox and workers send it."""
    from clarion.campaigns.control import launch, request_launch

    eng = engine()
    actor = cli_actor(eng, workspace)
    if wait:
        print_json(launch(eng, actor, campaign_id).to_dict())
        return
    with eng.begin() as conn:
        print_json(request_launch(conn, actor, campaign_id))


@campaign_app.command("plan")
@handle_errors
def plan_cmd(campaign_id: int, workspace: str = WorkspaceOpt) -> None:
    """Plan a launched campaign again (after a crash during launch); adds only what is missing."""
    from clarion.campaigns.planner import plan_campaign
    from clarion.campaigns.service import get_campaign

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        status = get_campaign(conn, actor.workspace_id, campaign_id).status
    if status not in ("scheduled", "running", "paused"):
        raise ValidationFailed(
            f"campaign {campaign_id} is {status}: launch a draft instead", field="status"
        )
    print_json(plan_campaign(eng, actor, campaign_id).to_dict())


@campaign_app.command("pause")
@handle_errors
def pause_cmd(
    campaign_id: int, reason: str | None = typer.Option(None), workspace: str = WorkspaceOpt
) -> None:
    """Stop sending; queued messages wait."""
    from clarion.campaigns.control import pause

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        pause(conn, actor, campaign_id, reason)
    console.print(f"campaign {campaign_id} paused")


@campaign_app.command("resume")
@handle_errors
def resume_cmd(campaign_id: int, workspace: str = WorkspaceOpt) -> None:
    """Send again from where the campaign stopped."""
    from clarion.campaigns.control import resume

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        resume(conn, actor, campaign_id)
    console.print(f"campaign {campaign_id} running")


@campaign_app.command("cancel")
@handle_errors
def cancel_cmd(
    campaign_id: int, reason: str | None = typer.Option(None), workspace: str = WorkspaceOpt
) -> None:
    """Cancel and recall every message not yet submitted; print how many."""
    from clarion.campaigns.control import cancel

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        print_json(cancel(conn, actor, campaign_id, reason))


@campaign_app.command("status")
@handle_errors
def status_cmd(
    campaign_id: int,
    watch: bool = typer.Option(False, help="show a live progress bar until the campaign ends"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Print the campaign's state and messages by status (or watch them live)."""
    from clarion.campaigns.control import progress

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        prog = progress(conn, actor.workspace_id, campaign_id)
    if not watch:
        print_json(prog)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(prog["name"], total=prog["total"] or 1)
        while True:
            with eng.connect() as conn:
                prog = progress(conn, actor.workspace_id, campaign_id)
            delivered = prog["messages"].get("delivered", 0)
            bar.update(
                task,
                completed=prog["done"],
                total=prog["total"] or 1,
                description=f"{prog['name']} [{prog['status']}] delivered {delivered}",
            )
            if prog["status"] in ("completed", "cancelled", "paused", "draft"):
                break
            time.sleep(0.5)  # polling another process's progress
    print_json(prog)


@route_app.command("add")
@handle_errors
def route_add(
    name: str = typer.Option(...),
    connector: str = typer.Option(..., help="the connector's name (e.g. an SMPP connector)"),
    channel: str = typer.Option("sms"),
    country: list[str] = typer.Option([], help="ISO country served, repeatable (none: any)"),
    prefix: list[str] = typer.Option([], help="E.164 prefix served, repeatable (none: any)"),
    carrier: list[str] = typer.Option([], help="carrier served, repeatable (none: any)"),
    priority: int = typer.Option(100, help="lower is tried first"),
    price: float = typer.Option(0.0, help="price per message part"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Create a route."""
    from clarion.delivery.routes import RouteCreate, create_route

    eng = engine()
    actor = cli_actor(eng, workspace)
    spec = RouteCreate(
        name=name,
        channel=channel,
        connector=connector,
        countries=country,
        prefixes=prefix,
        carriers=carrier,
        priority=priority,
        price_per_part=price,
    )
    with eng.begin() as conn:
        print_json({"id": create_route(conn, actor, spec)})


@route_app.command("list")
@handle_errors
def route_list(workspace: str = WorkspaceOpt) -> None:
    """List routes in failover order."""
    from clarion.delivery.routes import list_routes

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(list_routes(conn, actor.workspace_id))


@route_app.command("disable")
@handle_errors
def route_disable(route_id: int, workspace: str = WorkspaceOpt) -> None:
    """Take a route out of planning and failover."""
    from clarion.delivery.routes import set_route_active

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        set_route_active(conn, actor, route_id, False)
    console.print(f"route {route_id} disabled")


def register(app: typer.Typer) -> None:
    app.add_typer(campaign_app, name="campaign")
    app.add_typer(route_app, name="route")
