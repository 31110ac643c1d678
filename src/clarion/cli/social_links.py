"""``clarion social link|unlink|identities|link-code|feedback|goal|engagement``.

The ``social`` group is shared with the publishing commands (``clarion.cli.social``); whichever
module registers first creates it and the other adds its commands to it.
"""

from __future__ import annotations

import typer

from clarion.cli.common import WorkspaceOpt, cli_actor, engine, handle_errors, print_json


def _group(app: typer.Typer) -> typer.Typer:
    """Return the ``social`` sub-app, creating it if no other module has yet."""
    for info in app.registered_groups:
        if info.name == "social" and info.typer_instance is not None:
            return info.typer_instance
    group = typer.Typer(
        help="Social platforms: accounts, posts, identities, feedback.", no_args_is_help=True
    )
    app.add_typer(group, name="social")
    return group


def link_cmd(
    contact: int = typer.Argument(..., help="contact id"),
    platform: str = typer.Argument(..., help="mastodon, bluesky, x, weibo, wechat_oa"),
    handle: str = typer.Argument(..., help="the handle, with or without @"),
    signup: bool = typer.Option(False, "--signup", help="a handle the person gave (unverified)"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Link a social handle to a contact (refused if another contact holds it)."""
    from clarion.social.identities import link

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        print_json(
            link(conn, actor, contact, platform, handle, method="signup" if signup else "manual")
        )


def unlink_cmd(
    platform: str = typer.Argument(...),
    handle: str = typer.Argument(...),
    workspace: str = WorkspaceOpt,
) -> None:
    """Remove a handle's link."""
    from clarion.social.identities import unlink

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        owner = unlink(conn, actor, platform, handle)
    print_json({"contact_id": owner, "platform": platform, "handle": handle, "unlinked": True})


def identities_cmd(
    contact: int | None = typer.Option(None, "--contact", help="only this contact's"),
    platform: str | None = typer.Option(None, "--platform"),
    workspace: str = WorkspaceOpt,
) -> None:
    """List linked social handles."""
    from clarion.social.identities import list_identities

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(list_identities(conn, actor.workspace_id, contact_id=contact, platform=platform))


def link_code_cmd(
    contact: int = typer.Argument(..., help="contact id"),
    platform: str | None = typer.Option(None, "--platform", help="only valid on this platform"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Text a contact a one-time code to post or DM back from their social account."""
    from clarion.social.identities import request_code

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        print_json(request_code(conn, actor, contact, platform=platform))


def feedback_cmd(
    channel: str | None = typer.Option(None, help="sms or social (default both)"),
    sentiment: str | None = typer.Option(None, help="positive, neutral or negative"),
    status: str = typer.Option("open", help="open, closed or all"),
    campaign: int | None = typer.Option(None, "--campaign"),
    limit: int = typer.Option(50, help="at most this many (1-500)"),
    workspace: str = WorkspaceOpt,
) -> None:
    """SMS replies and social comments in one list, newest first, with sentiment."""
    from clarion.social.service import list_feedback

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(
            list_feedback(
                conn,
                actor.workspace_id,
                channel=channel,
                sentiment=sentiment,
                status=None if status == "all" else status,
                campaign_id=campaign,
                limit=limit,
            )
        )


def goal_cmd(
    campaign: int = typer.Argument(..., help="campaign id"),
    actions: list[str] = typer.Argument(..., help="follow, comment, share, mention, reply, like"),
    click_window: int | None = typer.Option(None, "--click-window", help="seconds"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Credit a campaign with the social actions its recipients take."""
    from clarion.social.promotion import set_social_goal

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        print_json(set_social_goal(conn, actor, campaign, actions, click_window_s=click_window))


def engagement_cmd(
    campaign: int = typer.Argument(..., help="campaign id"), workspace: str = WorkspaceOpt
) -> None:
    """Social actions attributed to a campaign, comment sentiment and sign-ups."""
    from clarion.social.promotion import engagement

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(engagement(conn, actor.workspace_id, campaign))


def register(app: typer.Typer) -> None:
    group = _group(app)
    for name, fn in (
        ("link", link_cmd),
        ("unlink", unlink_cmd),
        ("identities", identities_cmd),
        ("link-code", link_code_cmd),
        ("feedback", feedback_cmd),
        ("goal", goal_cmd),
        ("engagement", engagement_cmd),
    ):
        group.command(name)(handle_errors(fn))
