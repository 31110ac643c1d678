"""``clarion import contacts FILE``: import with cleaning, a progress bar and a report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from clarion.cli.common import WorkspaceOpt, cli_actor, console, engine, handle_errors, print_json

import_app = typer.Typer(help="Import contacts from CSV, XLSX or JSON Lines.", no_args_is_help=True)


@import_app.command("contacts")
@handle_errors
def import_contacts_cmd(
    file: Path = typer.Argument(..., help="CSV, XLSX or JSON Lines file"),
    map_: str = typer.Option(
        "", "--map", help="column mapping, e.g. 'Mobile=phone,Cust No=external_id,Notes=ignore'"
    ),
    region: str = typer.Option(
        "", "--region", help="default region for national numbers (else the workspace's)"
    ),
    rejects: Path | None = typer.Option(None, help="rejects CSV (default FILE.rejects.csv)"),
    fmt: str = typer.Option("", "--format", help="csv, xlsx or jsonl (default: from the name)"),
    encoding: str = typer.Option("", help="text encoding (default: detected)"),
    workers: int = typer.Option(-1, help="cleaning processes; -1 picks by file size"),
    progress: bool = typer.Option(True, help="show a progress bar"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Import contacts: map columns, clean phones, merge duplicates, report and keep rejects."""
    from clarion.imports.contacts import import_contacts, parse_map

    mapping = parse_map(map_)
    eng = engine()
    actor = cli_actor(eng, workspace)
    report = import_contacts(
        eng,
        actor,
        file,
        mapping=mapping,
        default_region=region.upper() or None,
        rejects_path=rejects,
        progress=progress and not as_json,
        fmt=fmt or None,
        encoding=encoding or None,
        workers=None if workers < 0 else workers,
    )
    if as_json:
        print_json(report.to_dict())
    else:
        console.print(str(report), highlight=False)


def _import_events_or_orders(kind: str) -> Callable[..., None]:
    @handle_errors
    def command(
        file: Path = typer.Argument(..., help="CSV, XLSX or JSON Lines file"),
        map_: str = typer.Option("", "--map", help="column mapping, e.g. 'Kunde=external_id'"),
        rejects: Path | None = typer.Option(None, help="rejects CSV (default FILE.rejects.csv)"),
        fmt: str = typer.Option("", "--format", help="csv, xlsx or jsonl"),
        encoding: str = typer.Option("", help="text encoding (default: detected)"),
        progress: bool = typer.Option(True, help="show a progress bar"),
        as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
        workspace: str = WorkspaceOpt,
    ) -> None:
        from clarion.imports.events import import_events, import_orders

        mapping = {}
        for part in map_.split(","):
            header, eq, target = part.partition("=")
            if eq and header.strip() and target.strip():
                mapping[header.strip()] = target.strip()
        eng = engine()
        actor = cli_actor(eng, workspace)
        run = import_events if kind == "events" else import_orders
        report = run(
            eng,
            actor,
            file,
            mapping=mapping,
            rejects_path=rejects,
            progress=progress and not as_json,
            fmt=fmt or None,
            encoding=encoding or None,
        )
        if as_json:
            print_json(report.to_dict())
        else:
            console.print(str(report), highlight=False)

    command.__doc__ = (
        "Import behavioural events (event, occurred_at, person, properties)."
        if kind == "events"
        else "Import orders: one row per line item, or JSON Lines with an items list."
    )
    return command


import_app.command("events")(_import_events_or_orders("events"))
import_app.command("orders")(_import_events_or_orders("orders"))


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")
