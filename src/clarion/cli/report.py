"""``clarion report campaign ID``: the funnel in the terminal, HTML with charts, CSV/Parquet."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from clarion.cli.common import WorkspaceOpt, cli_actor, console, engine, handle_errors, print_json

report_app = typer.Typer(help="Campaign reports and route health.", no_args_is_help=True)


@report_app.command("campaign")
@handle_errors
def campaign(
    campaign_id: int = typer.Argument(..., help="campaign id"),
    html: Path | None = typer.Option(None, "--html", help="write the HTML report (charts) here"),
    csv: Path | None = typer.Option(None, "--csv", help="write every message to this CSV file"),
    parquet: Path | None = typer.Option(None, "--parquet", help="... and/or this Parquet file"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    correction: str = typer.Option("holm", help="multiple-comparison correction: holm or bh"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Attribute conversions, then print the campaign's funnel, variants and lift."""
    from clarion.analytics.export import export_messages
    from clarion.analytics.funnel_text import print_report
    from clarion.analytics.html import write_html
    from clarion.analytics.report import build_report
    from clarion.errors import ValidationFailed

    if correction not in ("holm", "bh"):
        raise ValidationFailed("--correction must be holm or bh", field="correction")
    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        rep = build_report(conn, actor.workspace_id, campaign_id, correction=correction)
    if as_json:
        print_json(rep.to_dict())
    else:
        print_report(rep, Console())
    if html is not None:
        console.print(f"HTML report: {write_html(rep, html).resolve()}", highlight=False)
    if csv is not None or parquet is not None:
        with eng.connect() as conn:
            n = export_messages(conn, actor.workspace_id, campaign_id, csv=csv, parquet=parquet)
        for path in (csv, parquet):
            if path is not None:
                console.print(f"{n:,} messages: {path.resolve()}", highlight=False)


@report_app.command("routes")
@handle_errors
def routes(
    hours: int = typer.Option(24, help="how many hours back"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Print delivery rate and latency per route, country and carrier, hour by hour."""
    from clarion.analytics.route_health import refresh, route_health

    eng = engine()
    actor = cli_actor(eng, workspace)
    refresh(eng)
    with eng.connect() as conn:
        print_json(route_health(conn, actor.workspace_id, hours=hours))


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
