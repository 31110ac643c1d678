"""``clarion keywords list|add|remove|test|settings``: keywords and automatic replies."""

from __future__ import annotations

import orjson
import typer

from clarion.cli.common import WorkspaceOpt, cli_actor, engine, handle_errors, print_json
from clarion.errors import ValidationFailed

keywords_app = typer.Typer(
    help="SMS keywords, reply settings and opt-out phrases.", no_args_is_help=True
)


@keywords_app.command("list")
@handle_errors
def list_cmd(
    builtin: bool = typer.Option(False, "--builtin", help="also list the built-in keywords"),
    workspace: str = WorkspaceOpt,
) -> None:
    """List the workspace's keywords (and the built-in ones with --builtin)."""
    from clarion.inbound import keywords as kw
    from clarion.inbound.settings import list_keywords

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        out: dict[str, object] = {"workspace": list_keywords(conn, actor.workspace_id)}
    if builtin:
        out["builtin"] = {
            "opt_out": kw.OPT_OUT_KEYWORDS,
            "opt_in": kw.OPT_IN_KEYWORDS,
            "confirm": kw.CONFIRM_KEYWORDS,
            "help": kw.HELP_KEYWORDS,
            "opt_out_phrases": kw.DEFAULT_PHRASES,
        }
    print_json(out)


@keywords_app.command("add")
@handle_errors
def add_cmd(
    keyword: str = typer.Argument(..., help="the word people text, e.g. JOIN"),
    action: str = typer.Option(..., help="join, opt_in, opt_out or help"),
    language: str = typer.Option("en", help="language of the keyword and its replies"),
    purpose: str = typer.Option("marketing", help="consent purpose it changes"),
    channel: str = typer.Option("sms", help="consent channel it changes"),
    campaign: int | None = typer.Option(None, "--campaign", help="the campaign it belongs to"),
    reply: str | None = typer.Option(None, help="own reply text instead of the default"),
    single_opt_in: bool = typer.Option(
        False, "--single-opt-in", help="JOIN subscribes at once, without a confirming YES"
    ),
    workspace: str = WorkspaceOpt,
) -> None:
    """Add a workspace keyword (built-in opt-out and help keywords cannot be redefined)."""
    from clarion.inbound.settings import KeywordIn, add_keyword

    eng = engine()
    actor = cli_actor(eng, workspace)
    spec = KeywordIn(
        keyword=keyword,
        action=action,
        language=language,
        channel=channel,
        purpose=purpose,
        campaign_id=campaign,
        reply=reply,
        double_opt_in=not single_opt_in,
    )
    with eng.begin() as conn:
        print_json(add_keyword(conn, actor, spec))


@keywords_app.command("remove")
@handle_errors
def remove_cmd(keyword: str = typer.Argument(...), workspace: str = WorkspaceOpt) -> None:
    """Remove a workspace keyword."""
    from clarion.inbound.settings import remove_keyword

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        remove_keyword(conn, actor, keyword)
    print_json({"removed": keyword})


@keywords_app.command("test")
@handle_errors
def test_cmd(
    text: str = typer.Argument(..., help="a reply as a person might send it"),
    language: str | None = typer.Option(None, help="the contact's language, for ties"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Show what a reply would be taken to mean (nothing is changed)."""
    from clarion.inbound import keywords as kw
    from clarion.inbound.settings import custom_keywords, get_settings, phrases_of

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        own = custom_keywords(conn, actor.workspace_id)
        phrases = phrases_of(get_settings(conn, actor.workspace_id))
    got = kw.classify(text, own, phrases, language=language)
    print_json(
        {
            "intent": got.intent,
            "keyword": got.keyword,
            "language": got.language,
            "rule": got.rule,
            "all_purposes": got.all_purposes,
            "normalised": kw.normalise(text),
        }
    )


@keywords_app.command("settings")
@handle_errors
def settings_cmd(
    set_: list[str] = typer.Option(
        [], "--set", help="KEY=VALUE (VALUE as JSON if it parses, else text); KEY= removes it"
    ),
    workspace: str = WorkspaceOpt,
) -> None:
    """Show or change reply settings: brand, support, frequency, public_url, optin_ttl_hours..."""
    from clarion.inbound.settings import get_settings, set_settings

    changes: dict[str, object] = {}
    for item in set_:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValidationFailed("write --set KEY=VALUE", field="set", value=item)
        try:
            value: object = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            value = raw
        changes[key.strip()] = value
    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        out = (
            set_settings(conn, actor, changes)
            if changes
            else get_settings(conn, actor.workspace_id)
        )
    print_json(out)


def register(app: typer.Typer) -> None:
    app.add_typer(keywords_app, name="keywords")
