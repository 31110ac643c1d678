"""``clarion inbox list|show|reply|close``: the conversations replies start."""

from __future__ import annotations

import typer

from clarion.cli.common import WorkspaceOpt, cli_actor, engine, handle_errors, print_json

inbox_app = typer.Typer(help="Conversations: replies that are not keywords.", no_args_is_help=True)


@inbox_app.command("list")
@handle_errors
def list_cmd(
    status: str = typer.Option("open", help="open, closed or all"),
    campaign: int | None = typer.Option(None, "--campaign", help="only replies to this campaign"),
    limit: int = typer.Option(50, help="at most this many (1-500)"),
    workspace: str = WorkspaceOpt,
) -> None:
    """List conversations, most recent first."""
    from clarion.inbound.inbox import list_conversations

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(
            list_conversations(
                conn,
                actor.workspace_id,
                status=None if status == "all" else status,
                campaign_id=campaign,
                limit=limit,
            )
        )


@inbox_app.command("show")
@handle_errors
def show_cmd(
    conversation: int = typer.Argument(..., help="conversation id"), workspace: str = WorkspaceOpt
) -> None:
    """Show a conversation with its messages, and mark it read."""
    from clarion.inbound.inbox import get_conversation, mark_read

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        out = get_conversation(conn, actor.workspace_id, conversation)
        mark_read(conn, actor, conversation)
    print_json(out)


@inbox_app.command("reply")
@handle_errors
def reply_cmd(
    conversation: int = typer.Argument(..., help="conversation id"),
    text: str = typer.Argument(..., help="the answer"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Answer the contact from the number they wrote to."""
    from clarion.inbound.inbox import answer

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        print_json(answer(conn, actor, conversation, text))


@inbox_app.command("close")
@handle_errors
def close_cmd(
    conversation: int = typer.Argument(..., help="conversation id"),
    reopen: bool = typer.Option(False, "--reopen", help="open it again instead"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Close a conversation (a new reply opens it again)."""
    from clarion.inbound.inbox import set_status

    eng = engine()
    actor = cli_actor(eng, workspace)
    status = "open" if reopen else "closed"
    with eng.begin() as conn:
        set_status(conn, actor, conversation, status)
    print_json({"id": conversation, "status": status})


def register(app: typer.Typer) -> None:
    app.add_typer(inbox_app, name="inbox")
