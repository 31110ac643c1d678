"""``clarion link ...``: tracked short links, the link domain and attribution rules."""

from __future__ import annotations

import typer

from clarion.cli.common import WorkspaceOpt, cli_actor, engine, handle_errors, print_json

link_app = typer.Typer(help="Tracked short links and attribution rules.", no_args_is_help=True)


@link_app.command("create")
@handle_errors
def create(
    url: str = typer.Argument(..., help="the target URL (http or https)"),
    campaign: int | None = typer.Option(None, help="count clicks towards this campaign"),
    ttl: int | None = typer.Option(None, help="seconds until the link expires"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Create one tracked short link; print it."""
    from clarion.tracking.links import create_link

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        print_json(create_link(conn, actor, url, campaign_id=campaign, ttl_s=ttl))


@link_app.command("show")
@handle_errors
def show(code: str, workspace: str = WorkspaceOpt) -> None:
    """Print a link with its clicks and filtered previews."""
    from clarion.tracking.links import get_link

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(get_link(conn, actor.workspace_id, code))


@link_app.command("settings")
@handle_errors
def settings(
    base_url: str | None = typer.Option(None, help="e.g. https://go.example.com/l"),
    ttl_days: float | None = typer.Option(None, help="days a new link lives"),
    click_window_h: float | None = typer.Option(None, help="hours a click earns a conversion"),
    delivery_window_h: float | None = typer.Option(None, help="hours a delivery earns one"),
    goal_event: list[str] = typer.Option([], help="event name that converts, repeatable"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Show, or change, the workspace's link domain, link lifetime and attribution rules."""
    from clarion.tracking.settings import (
        TrackingSettingsUpdate,
        get_tracking_settings,
        update_tracking_settings,
    )

    eng = engine()
    actor = cli_actor(eng, workspace)
    change: dict[str, object] = {}
    if base_url is not None:
        change["link_base_url"] = base_url
    if ttl_days is not None:
        change["link_ttl_s"] = round(ttl_days * 86400)
    if click_window_h is not None:
        change["click_window_s"] = round(click_window_h * 3600)
    if delivery_window_h is not None:
        change["delivery_window_s"] = round(delivery_window_h * 3600)
    if goal_event:
        change["goal_events"] = goal_event
    with eng.begin() as conn:
        if change:
            new = update_tracking_settings(conn, actor, TrackingSettingsUpdate(**change))
        else:
            new = get_tracking_settings(conn, actor.workspace_id)
        print_json(new.to_dict())


def register(app: typer.Typer) -> None:
    app.add_typer(link_app, name="link")
