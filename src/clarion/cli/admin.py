"""``clarion init``, ``clarion migrate`` and ``clarion apikey``."""

from __future__ import annotations

import typer

from clarion.cli.common import WorkspaceOpt, cli_actor, console, engine, handle_errors, print_json


@handle_errors
def init_cmd() -> None:
    """Create the database (if needed), apply migrations and the default workspace."""
    from clarion.db.engine import get_engine
    from clarion.db.setup import init

    res = init(get_engine())
    console.print(
        f"database {res.url} at {', '.join(res.revisions)}; workspace id {res.workspace_id}"
    )


@handle_errors
def migrate_cmd() -> None:
    """Apply pending migrations (safe to run on every start)."""
    from clarion.db import migrate
    from clarion.db.engine import get_engine

    revs = migrate.upgrade(get_engine())
    console.print(f"schema at {', '.join(revs)}")


apikey_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)


@apikey_app.command("create")
@handle_errors
def apikey_create(
    name: str = typer.Option("default", help="a label for the key"),
    scopes: str = typer.Option(..., help="comma-separated, e.g. contacts:write,events:write"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Create an API key and print it once."""
    from clarion.workspaces.service import create_api_key

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        key_id, token = create_api_key(
            conn, actor, name, [s.strip() for s in scopes.split(",") if s.strip()]
        )
    print_json({"id": key_id, "token": token, "note": "store it now: it is not shown again"})


@apikey_app.command("list")
@handle_errors
def apikey_list(workspace: str = WorkspaceOpt) -> None:
    """List the workspace's API keys (never the keys themselves)."""
    from clarion.workspaces.service import list_api_keys

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(list_api_keys(conn, actor.workspace_id))


@apikey_app.command("revoke")
@handle_errors
def apikey_revoke(key_id: int, workspace: str = WorkspaceOpt) -> None:
    """Revoke an API key."""
    from clarion.workspaces.service import revoke_api_key

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        revoke_api_key(conn, actor, key_id)
    console.print(f"revoked key {key_id}")


def register(app: typer.Typer) -> None:
    app.command("init")(init_cmd)
    app.command("migrate")(migrate_cmd)
    app.add_typer(apikey_app, name="apikey")
