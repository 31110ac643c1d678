"""``clarion connector add/list/show/set/delete/check``: SMPP connectors in the database."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import typer

from clarion.cli.common import WorkspaceOpt, cli_actor, console, engine, handle_errors, print_json
from clarion.errors import ValidationFailed

connector_app = typer.Typer(help="SMPP connectors.", no_args_is_help=True)

SetOpt = typer.Option(
    [],
    "--set",
    help="SETTING=VALUE, repeatable (e.g. window=128, concatenation=sar, throughput=50)",
)


def _settings(items: list[str]) -> dict[str, Any]:
    """Return ``--set`` items as values: JSON numbers, true/false/null, else strings."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValidationFailed(
                f"--set wants SETTING=VALUE, got {item!r}", field="set", value=item
            )
        try:
            value: Any = orjson.loads(raw)
            if isinstance(value, list | dict):
                value = raw
        except orjson.JSONDecodeError:
            value = raw
        # Credentials and addresses stay text even when they look like numbers.
        if key.strip() in ("system_id", "password", "system_type", "source_addr", "host"):
            value = raw
        out[key.strip()] = value
    return out


@connector_app.command("add")
@handle_errors
def add_cmd(
    name: str,
    host: str = typer.Option("127.0.0.1", help="SMSC host"),
    port: int = typer.Option(2775, help="SMSC port"),
    system_id: str = typer.Option(..., "--system-id", help="the account's system_id"),
    password: str = typer.Option(..., help="the account's password (stored in clear)"),
    settings: list[str] = SetOpt,
    workspace: str = WorkspaceOpt,
) -> None:
    """Add an SMPP connector."""
    from clarion.channels.smpp.service import create_connector

    values = {"host": host, "port": port, "system_id": system_id, "password": password}
    values.update(_settings(settings))
    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        print_json(create_connector(conn, actor, name, values))


@connector_app.command("list")
@handle_errors
def list_cmd(workspace: str = WorkspaceOpt) -> None:
    """List the workspace's SMPP connectors (never their passwords)."""
    from clarion.channels.smpp.service import list_connectors

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(list_connectors(conn, actor.workspace_id))


@connector_app.command("show")
@handle_errors
def show_cmd(name: str, workspace: str = WorkspaceOpt) -> None:
    """Show one SMPP connector."""
    from clarion.channels.smpp.service import get_connector

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(get_connector(conn, actor.workspace_id, name))


@connector_app.command("set")
@handle_errors
def set_cmd(name: str, settings: list[str] = SetOpt, workspace: str = WorkspaceOpt) -> None:
    """Change settings of an SMPP connector."""
    from clarion.channels.smpp.service import update_connector

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        print_json(update_connector(conn, actor, name, _settings(settings)))


@connector_app.command("delete")
@handle_errors
def delete_cmd(name: str, workspace: str = WorkspaceOpt) -> None:
    """Delete an SMPP connector."""
    from clarion.channels.smpp.service import delete_connector

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        delete_connector(conn, actor, name)
    console.print(f"deleted connector {name}")


@connector_app.command("check")
@handle_errors
def check_cmd(name: str, workspace: str = WorkspaceOpt) -> None:
    """Bind every bind of the connector once, report, and unbind."""
    from clarion.channels.smpp.client import Connector
    from clarion.channels.smpp.service import connector_config

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        cfg = connector_config(conn, actor.workspace_id, name)

    async def run() -> dict[str, Any]:
        connector = Connector(cfg)
        await connector.start()
        report = {
            "connector": name,
            "binds": len(connector.binds),
            "binds_up": connector.binds_up,
            "errors": [b.last_error for b in connector.binds if b.last_error],
        }
        await connector.stop()
        return report

    report = asyncio.run(run())
    print_json(report)
    if report["binds_up"] < report["binds"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(connector_app, name="connector")
