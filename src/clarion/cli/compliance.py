"""``clarion explain``, ``clarion screen``, ``clarion suppression`` and ``clarion compliance``."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import orjson
import typer

from clarion.cli.common import WorkspaceOpt, cli_actor, console, engine, handle_errors, print_json
from clarion.errors import ValidationFailed


def _at(value: str | None) -> datetime:
    from clarion.db.types import utcnow

    if not value:
        return utcnow()
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed("give the time as ISO 8601", field="at", value=value) from None
    if at.tzinfo is None:
        raise ValidationFailed(
            "give the time with its offset, e.g. 2026-05-06T21:30-07:00", field="at", value=value
        )
    return at


@handle_errors
def explain_cmd(
    contact: str = typer.Option(..., "--contact", "-c", help="contact id, phone (E.164) or email"),
    text: str | None = typer.Option(None, "--text", "-t", help="message text, may use {{ ... }}"),
    template: str | None = typer.Option(None, "--template", help="a saved template's name"),
    campaign: int | None = typer.Option(None, "--campaign", help="a campaign's id"),
    variant: str | None = typer.Option(None, help="the campaign's variant (default: first)"),
    purpose: str = typer.Option("marketing", help="marketing or transactional"),
    channel: str = typer.Option("sms", help="sms, email or social"),
    at: str | None = typer.Option(None, help="when to send, ISO 8601 with offset (default now)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of text"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Explain whether a contact would get a message, when, and which rules fired.

    Give the message as --text, --template or --campaign (its purpose and channel then apply).
    """
    from clarion.compliance.explain import SendSpec, campaign_spec, explain

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        spec = (
            campaign_spec(conn, actor.workspace_id, campaign, variant)
            if campaign is not None and text is None and template is None
            else SendSpec(text=text, template=template, purpose=purpose, channel=channel)
        )
        result = explain(conn, actor.workspace_id, contact, spec, _at(at))
    if as_json:
        print_json(result.as_dict())
    else:
        sys.stdout.write("\n".join(result.lines()) + "\n")
    if not result.decision.allowed:
        raise typer.Exit(1)


@handle_errors
def screen_cmd(
    text: str | None = typer.Argument(None, help="the text; omit and use --file for many"),
    jurisdiction: str | None = typer.Option(None, "--jurisdiction", "-j", help="e.g. CN, US-FL"),
    phone: str | None = typer.Option(None, help="choose the jurisdiction from a number"),
    purpose: str = typer.Option("marketing", help="marketing or transactional"),
    file: Path | None = typer.Option(None, help="screen every line of this file"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Screen text for forbidden terms, URL rules and wording rules; exit 1 if blocked."""
    from clarion.compliance.explain import check_text

    if (text is None) == (file is None):
        raise ValidationFailed("give a text or --file, not both", field="text")
    texts = [text] if text is not None else _lines(file)
    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        checks = [
            check_text(
                conn,
                actor.workspace_id,
                t,
                jurisdiction=jurisdiction,
                phone=phone,
                purpose=purpose,
            )
            for t in texts
        ]
    out = [c.as_dict() | {"line": i + 1} for i, c in enumerate(checks)]
    print_json(out[0] if text is not None else out)
    if any(c.verdict == "block" for c in checks):
        raise typer.Exit(1)


def _lines(file: Path | None) -> list[str]:
    assert file is not None
    try:
        return [ln for ln in file.read_text("utf-8").splitlines() if ln.strip()]
    except OSError as exc:
        raise ValidationFailed(f"cannot read {file}: {exc}", field="file") from None


suppression_app = typer.Typer(help="Addresses never to message.", no_args_is_help=True)


@suppression_app.command("add")
@handle_errors
def suppression_add(
    values: list[str] = typer.Argument(..., help="phones (E.164) or emails"),
    reason: str = typer.Option("manual", help="why"),
    channel: str = typer.Option("*", help="sms, email, social or * for all"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Suppress addresses (idempotent)."""
    from clarion.compliance.suppression import SuppressionIn, add_suppressions

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        n = add_suppressions(
            conn, actor, [SuppressionIn(v, reason, channel, "cli") for v in values]
        )
    console.print(f"suppressed {n} new address(es)")


@suppression_app.command("remove")
@handle_errors
def suppression_remove(
    value: str,
    channel: str = typer.Option("*", help="the channel it was suppressed on"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Lift one suppression."""
    from clarion.compliance.suppression import remove_suppression

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        remove_suppression(conn, actor, value, channel)
    console.print(f"no longer suppressed: {value}")


@suppression_app.command("list")
@handle_errors
def suppression_list(
    limit: int = typer.Option(1000, help="at most this many, newest first"),
    workspace: str = WorkspaceOpt,
) -> None:
    """List suppressed addresses."""
    from clarion.compliance.suppression import list_suppressions

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(list_suppressions(conn, actor.workspace_id, limit=limit))


policy_app = typer.Typer(help="Compliance policies and workspace terms.", no_args_is_help=True)


@policy_app.command("show")
@handle_errors
def policy_show(
    jurisdiction: str = typer.Argument(..., help="US, US-FL, CN, EU, GB or default"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Show a jurisdiction's policy as it applies to this workspace."""
    from dataclasses import asdict

    from clarion.compliance.policies import resolve
    from clarion.compliance.settings import policy_overrides

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        policy = resolve(jurisdiction, policy_overrides(conn, actor.workspace_id))
    out = asdict(policy)
    window = policy.send_window
    out["send_window"] = [t.isoformat("minutes") for t in window] if window else None
    print_json(out)


@policy_app.command("set")
@handle_errors
def policy_set(
    jurisdiction: str = typer.Argument(..., help="* for the whole workspace, or US, CN, ..."),
    settings: str = typer.Argument(..., help='JSON, e.g. \'{"brand": "Acme"}\''),
    workspace: str = WorkspaceOpt,
) -> None:
    """Override policy settings for this workspace (null removes a setting)."""
    from clarion.compliance.settings import set_policy

    try:
        parsed = orjson.loads(settings)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(f"settings are not JSON: {exc}", field="settings") from None
    if not isinstance(parsed, dict):
        raise ValidationFailed("settings are a JSON object", field="settings", value=settings)
    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        print_json(set_policy(conn, actor, jurisdiction, parsed))


@policy_app.command("add-term")
@handle_errors
def term_add(
    term: str,
    category: str = typer.Option(..., help="e.g. gambling, loans, own_policy"),
    action: str = typer.Option("block", help="block or warn"),
    jurisdiction: str = typer.Option("*", help="* for all, or US, CN, ..."),
    workspace: str = WorkspaceOpt,
) -> None:
    """Add a term to this workspace's screening."""
    from clarion.compliance.settings import TermIn, add_terms

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        add_terms(conn, actor, [TermIn(term, category, action, jurisdiction)])
    console.print(f"added {term!r} ({category}, {action}) for {jurisdiction}")


def register(app: typer.Typer) -> None:
    app.command("explain")(explain_cmd)
    app.command("screen")(screen_cmd)
    app.add_typer(suppression_app, name="suppression")
    app.add_typer(policy_app, name="compliance")
