"""``clarion message send/show/list``: the send API from the command line."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
import typer

from clarion.cli.common import WorkspaceOpt, cli_actor, engine, handle_errors, print_json
from clarion.errors import ValidationFailed

message_app = typer.Typer(help="Send one message and follow its status.", no_args_is_help=True)


def _json_object(raw: str | None, option: str) -> dict[str, object]:
    if raw is None:
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(f"{option} is not JSON: {exc}", field=option, value=raw) from None
    if not isinstance(value, dict):
        raise ValidationFailed(f"{option} must be a JSON object", field=option, value=raw)
    return value


@message_app.command("send")
@handle_errors
def send_cmd(
    to: str | None = typer.Option(None, "--to", help="E.164 number or email address"),
    contact: int | None = typer.Option(None, "--contact", help="a contact id instead of --to"),
    text: str | None = typer.Option(None, "--text", help="the text (may use {{ ... }})"),
    template: str | None = typer.Option(None, "--template", help="a saved template's name"),
    variables: str | None = typer.Option(None, "--vars", help='JSON, e.g. {"order": {"id": 7}}'),
    channel: str = typer.Option("sms", "--channel", help="sms or email"),
    kind: str = typer.Option("transactional", "--kind", help="transactional or marketing"),
    sender: str | None = typer.Option(None, "--sender", help="sender id"),
    validity: int | None = typer.Option(None, "--validity", help="seconds before giving up"),
    send_at: datetime | None = typer.Option(None, "--at", help="ISO time with a zone"),
    callback_url: str | None = typer.Option(None, "--callback-url", help="status webhooks"),
    key: str | None = typer.Option(None, "--idempotency-key", help="send at most once per key"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Queue one message (the worker sends it) and print it."""
    from clarion.sending.service import SendRequest, send_message

    req = SendRequest(
        channel=channel,
        contact_id=contact,
        to=to,
        text=text,
        template=template,
        variables=_json_object(variables, "vars"),
        kind=kind,
        sender=sender,
        validity=None if validity is None else timedelta(seconds=validity),
        send_at=send_at,
        callback_url=callback_url,
        idempotency_key=key,
        source="cli",
    )
    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        print_json(send_message(conn, actor, req))


@message_app.command("show")
@handle_errors
def show_cmd(message_id: int, workspace: str = WorkspaceOpt) -> None:
    """Print a message with its status history."""
    from clarion.sending.service import get_message

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(get_message(conn, actor.workspace_id, message_id))


@message_app.command("list")
@handle_errors
def list_cmd(
    status: str | None = typer.Option(None, "--status", help="queued, submitted, delivered..."),
    limit: int = typer.Option(50, "--limit"),
    before: int | None = typer.Option(None, "--before", help="ids below this one (paging)"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Print the newest sent messages (not campaign messages)."""
    from clarion.sending.service import list_messages

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(
            list_messages(conn, actor.workspace_id, status=status, before_id=before, limit=limit)
        )


def register(app: typer.Typer) -> None:
    app.add_typer(message_app, name="message")
