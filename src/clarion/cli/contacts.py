"""``clarion contacts``: look up, list and delete contacts; read and record consent."""

from __future__ import annotations

import typer

from clarion.cli.common import WorkspaceOpt, cli_actor, console, engine, handle_errors, print_json

contacts_app = typer.Typer(help="Contacts and their consent.", no_args_is_help=True)


@contacts_app.command("get")
@handle_errors
def get_cmd(contact_id: int, workspace: str = WorkspaceOpt) -> None:
    """Print one contact with its tags, identities and current consent."""
    from clarion.contacts.service import get_contact

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(get_contact(conn, actor.workspace_id, contact_id))


@contacts_app.command("list")
@handle_errors
def list_cmd(
    after: int = typer.Option(0, help="list contacts with an id above this"),
    limit: int = typer.Option(20, help="at most this many (1-1000)"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Print a page of contacts."""
    from clarion.contacts.service import list_contacts

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(list_contacts(conn, actor.workspace_id, after_id=after, limit=limit))


@contacts_app.command("delete")
@handle_errors
def delete_cmd(contact_id: int, workspace: str = WorkspaceOpt) -> None:
    """Delete a contact with its tags, identities and consent history."""
    from clarion.contacts.service import delete_contact

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        delete_contact(conn, actor, contact_id)
    console.print(f"deleted contact {contact_id}")


@contacts_app.command("consent")
@handle_errors
def consent_cmd(
    contact_id: int,
    channel: str = typer.Option("", help="sms, email or social (omit to only show)"),
    purpose: str = typer.Option("marketing", help="marketing or transactional"),
    status: str = typer.Option("", help="opted_in, opted_out or pending"),
    source: str = typer.Option("cli", help="where the statement came from"),
    proof: str = typer.Option("", help="the evidence: form text, reply received, ..."),
    history: bool = typer.Option(False, help="print the whole ledger instead of the state"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Show a contact's consent, or record a statement when --channel and --status are given."""
    from clarion.consent.service import (
        ConsentIn,
        consent_history,
        current_consent,
        record_consent,
    )

    eng = engine()
    actor = cli_actor(eng, workspace)
    if channel and status:
        entry = ConsentIn(contact_id, channel, purpose, status, source, proof or None)
        with eng.begin() as conn:
            record_consent(conn, actor, [entry])
    with eng.connect() as conn:
        read = consent_history if history else current_consent
        print_json(read(conn, actor.workspace_id, contact_id))


def register(app: typer.Typer) -> None:
    app.add_typer(contacts_app, name="contacts")
