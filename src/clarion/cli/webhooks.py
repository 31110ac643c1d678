"""``clarion webhook add/list/update/remove/secret/deliveries/replay``: status webhooks."""

from __future__ import annotations

from datetime import datetime

import typer

from clarion.cli.common import WorkspaceOpt, cli_actor, engine, handle_errors, print_json

webhook_app = typer.Typer(help="Status webhooks to your systems.", no_args_is_help=True)
EventOpt = typer.Option(
    [], "--event", help="event type, repeatable (message.delivered, message.failed, ..., '*')"
)


@webhook_app.command("add")
@handle_errors
def add_cmd(
    url: str,
    event: list[str] = EventOpt,
    description: str | None = typer.Option(None, "--description"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Add an endpoint; prints its secret (shown this once)."""
    from clarion.webhooks.service import create_endpoint

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        print_json(create_endpoint(conn, actor, url, event or ["*"], description=description))


@webhook_app.command("list")
@handle_errors
def list_cmd(workspace: str = WorkspaceOpt) -> None:
    """List the endpoints."""
    from clarion.webhooks.service import list_endpoints

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(list_endpoints(conn, actor.workspace_id))


@webhook_app.command("update")
@handle_errors
def update_cmd(
    endpoint_id: int,
    url: str | None = typer.Option(None, "--url"),
    event: list[str] = EventOpt,
    active: bool | None = typer.Option(None, "--active/--inactive"),
    rotate_secret: bool = typer.Option(False, "--rotate-secret"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Change an endpoint (URL, events, on/off) or rotate its secret."""
    from clarion.webhooks.service import update_endpoint

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        print_json(
            update_endpoint(
                conn,
                actor,
                endpoint_id,
                url=url,
                events=event or None,
                active=active,
                rotate_secret=rotate_secret,
            )
        )


@webhook_app.command("remove")
@handle_errors
def remove_cmd(endpoint_id: int, workspace: str = WorkspaceOpt) -> None:
    """Remove an endpoint and its deliveries."""
    from clarion.webhooks.service import delete_endpoint

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        delete_endpoint(conn, actor, endpoint_id)
    print_json({"removed": endpoint_id})


@webhook_app.command("secret")
@handle_errors
def secret_cmd(workspace: str = WorkspaceOpt) -> None:
    """Print the key that signs deliveries to per-message callback URLs."""
    from clarion.webhooks.service import callback_secret

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        print_json({"secret": callback_secret(conn, actor.workspace_id)})


@webhook_app.command("deliveries")
@handle_errors
def deliveries_cmd(
    status: str | None = typer.Option(None, "--status", help="pending, delivered, dead"),
    endpoint: int | None = typer.Option(None, "--endpoint"),
    message: int | None = typer.Option(None, "--message"),
    limit: int = typer.Option(100, "--limit"),
    workspace: str = WorkspaceOpt,
) -> None:
    """List deliveries, newest first."""
    from clarion.webhooks.service import list_deliveries

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(
            list_deliveries(
                conn,
                actor.workspace_id,
                status=status,
                endpoint_id=endpoint,
                message_id=message,
                limit=limit,
            )
        )


@webhook_app.command("replay")
@handle_errors
def replay_cmd(
    ids: list[int] = typer.Argument(None, help="delivery ids (default: every dead one)"),
    endpoint: int | None = typer.Option(None, "--endpoint"),
    status: str = typer.Option("dead", "--status"),
    since: datetime | None = typer.Option(None, "--since", help="ISO time with a zone"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Queue deliveries again: the given ids, or every one in --status (default dead)."""
    from clarion.webhooks.service import replay

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        n = replay(conn, actor, ids=ids or [], endpoint_id=endpoint, status=status, since=since)
    print_json({"replayed": n})


def register(app: typer.Typer) -> None:
    app.add_typer(webhook_app, name="webhook")
