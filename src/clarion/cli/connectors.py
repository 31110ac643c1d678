"""``clarion connector add/list/show/set/delete/check/kinds``: connectors of every kind.

SMPP connectors keep their typed table and options; every other kind (HTTP SMS providers,
SMTP) is added with ``--kind`` and ``--set`` settings checked by that kind's model
(``clarion.channels.registry``). Secrets are accepted and never printed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import typer

from clarion.cli.common import WorkspaceOpt, cli_actor, console, engine, handle_errors, print_json
from clarion.errors import ValidationFailed

connector_app = typer.Typer(
    help="Connectors: SMPP, HTTP SMS providers, SMTP.", no_args_is_help=True
)

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
    kind: str = typer.Option(
        "smpp", help="smpp, twilio, vonage, aliyun, tencent, engagelab, kannel, jasmin, smtp"
    ),
    host: str = typer.Option("127.0.0.1", help="SMSC host (smpp)"),
    port: int = typer.Option(2775, help="SMSC port (smpp)"),
    system_id: str | None = typer.Option(None, "--system-id", help="the account's system_id"),
    password: str | None = typer.Option(None, help="the account's password (smpp)"),
    settings: list[str] = SetOpt,
    workspace: str = WorkspaceOpt,
) -> None:
    """Add a connector: SMPP by default, or any kind with --kind and --set."""
    eng = engine()
    actor = cli_actor(eng, workspace)
    if kind != "smpp":
        from clarion.channels.service import create_connector as create_other

        with eng.begin() as conn:
            print_json(create_other(conn, actor, name, kind, _kind_values(kind, settings)))
        return
    from clarion.channels.smpp.service import create_connector

    if not system_id or not password:
        raise ValidationFailed(
            "an SMPP connector needs --system-id and --password", field="system_id"
        )
    values = {"host": host, "port": port, "system_id": system_id, "password": password}
    values.update(_settings(settings))
    with eng.begin() as conn:
        print_json(create_connector(conn, actor, name, values))


def _kind_values(kind: str, items: list[str]) -> dict[str, Any]:
    """Return ``--set`` items for a provider kind: text where its settings model wants text."""
    from clarion.channels.registry import provider

    model = provider(kind).settings
    values = _settings(items)
    raw = {k: v for k, _, v in (i.partition("=") for i in items)}
    for key in values:
        field = model.model_fields.get(key.strip())
        if (
            field is not None
            and "str" in str(field.annotation)
            and "int" not in str(field.annotation)
        ):
            values[key] = raw[key]
    return values


def _is_smpp(conn: Any, workspace_id: int, name: str) -> bool:
    from clarion.channels.smpp.service import get_connector
    from clarion.errors import NotFound

    try:
        get_connector(conn, workspace_id, name)
    except NotFound:
        return False
    return True


@connector_app.command("list")
@handle_errors
def list_cmd(workspace: str = WorkspaceOpt) -> None:
    """List the workspace's connectors, SMPP first (never their passwords or secrets)."""
    from clarion.channels.service import list_connectors as list_others
    from clarion.channels.smpp.service import list_connectors

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        smpp = [{"kind": "smpp", **c} for c in list_connectors(conn, actor.workspace_id)]
        print_json(smpp + list_others(conn, actor.workspace_id))


@connector_app.command("show")
@handle_errors
def show_cmd(name: str, workspace: str = WorkspaceOpt) -> None:
    """Show one connector (secrets only as the names of those that are set)."""
    from clarion.channels.service import get_connector as get_other
    from clarion.channels.smpp.service import get_connector

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        if _is_smpp(conn, actor.workspace_id, name):
            print_json({"kind": "smpp", **get_connector(conn, actor.workspace_id, name)})
        else:
            print_json(get_other(conn, actor.workspace_id, name))


@connector_app.command("set")
@handle_errors
def set_cmd(name: str, settings: list[str] = SetOpt, workspace: str = WorkspaceOpt) -> None:
    """Change settings of a connector."""
    from clarion.channels.service import get_connector as get_other
    from clarion.channels.service import update_connector as update_other
    from clarion.channels.smpp.service import update_connector

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        if _is_smpp(conn, actor.workspace_id, name):
            print_json(update_connector(conn, actor, name, _settings(settings)))
        else:
            kind = get_other(conn, actor.workspace_id, name)["kind"]
            print_json(update_other(conn, actor, name, _kind_values(kind, settings)))


@connector_app.command("delete")
@handle_errors
def delete_cmd(name: str, workspace: str = WorkspaceOpt) -> None:
    """Delete a connector."""
    from clarion.channels.service import delete_connector as delete_other
    from clarion.channels.smpp.service import delete_connector

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        if _is_smpp(conn, actor.workspace_id, name):
            delete_connector(conn, actor, name)
        else:
            delete_other(conn, actor, name)
    console.print(f"deleted connector {name}")


@connector_app.command("check")
@handle_errors
def check_cmd(name: str, workspace: str = WorkspaceOpt) -> None:
    """SMPP: bind every bind once, report, unbind. Others: open the channel (SMTP: log in)."""
    from clarion.channels.smpp.client import Connector
    from clarion.channels.smpp.service import connector_config

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        if not _is_smpp(conn, actor.workspace_id, name):
            _check_other(conn, actor.workspace_id, name)
            return
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


def _check_other(conn: Any, workspace_id: int, name: str) -> None:
    """Open a provider connector's channel once and report its callback URLs."""
    from clarion.channels.registry import provider
    from clarion.channels.service import connector_config as other_config

    cfg = other_config(conn, workspace_id, name)
    channel = provider(cfg.kind).build(cfg, None)

    async def run() -> str | None:
        try:
            await channel.open()
            await channel.close()
        except Exception as exc:  # report any failure to connect or log in, as SMPP's check does
            return f"{type(exc).__name__}: {exc}"
        return None

    error = asyncio.run(run())
    print_json(
        {
            "connector": name,
            "kind": cfg.kind,
            "ok": error is None,
            "error": error,
            "callbacks": {
                e: cfg.callback_url(e)
                for e in (("bounce",) if cfg.kind == "smtp" else ("status", "inbound"))
            },
        }
    )
    if error is not None:
        raise typer.Exit(1)


@connector_app.command("kinds")
def kinds_cmd() -> None:
    """List the connector kinds and the settings each one takes (secrets marked)."""
    from clarion.channels.registry import kinds, provider

    out: dict[str, Any] = {"smpp": {"channel": "sms", "settings": "see docs/smpp.md"}}
    for kind in kinds():
        if kind == "smpp":
            continue
        prov = provider(kind)
        out[kind] = {
            "channel": prov.channel,
            "required": sorted(k for k, f in prov.settings.model_fields.items() if f.is_required()),
            "optional": sorted(
                k for k, f in prov.settings.model_fields.items() if not f.is_required()
            ),
            "secrets": list(prov.secrets),
        }
    print_json(out)


def register(app: typer.Typer) -> None:
    app.add_typer(connector_app, name="connector")
