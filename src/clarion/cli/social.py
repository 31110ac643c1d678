"""``clarion social account add|list|remove``, ``post``, ``posts``, ``publish``, ``fetch``.

The ``social`` group is shared with ``clarion.cli.social_links``; whichever module registers
first creates it. Account secrets are given with ``--set`` like any setting and never printed.
"""

from __future__ import annotations

import base64
import mimetypes
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from clarion.cli.common import WorkspaceOpt, cli_actor, engine, handle_errors, print_json
from clarion.errors import ValidationFailed

account_app = typer.Typer(help="Connected social accounts.", no_args_is_help=True)


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


def _settings(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValidationFailed(f"--set wants NAME=VALUE, got {item!r}", field="set", value=item)
        out[key.strip()] = value
    return out


@account_app.command("add")
@handle_errors
def account_add(
    name: str,
    platform: str = typer.Option(..., help="mastodon, bluesky, x, weibo, wechat_oa"),
    handle: str | None = typer.Option(None, help="the account's handle, for display"),
    set_: list[str] = typer.Option(
        [], "--set", help="NAME=VALUE, repeatable (e.g. base_url=..., access_token=...)"
    ),
    workspace: str = WorkspaceOpt,
) -> None:
    """Connect a social account (secrets are stored apart and never shown)."""
    from clarion.social.accounts import add_account

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        print_json(add_account(conn, actor, name, platform, _settings(set_), handle=handle))


@account_app.command("list")
@handle_errors
def account_list(workspace: str = WorkspaceOpt) -> None:
    """List connected accounts."""
    from clarion.social.accounts import list_accounts

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(list_accounts(conn, actor.workspace_id))


@account_app.command("remove")
@handle_errors
def account_remove(name: str, workspace: str = WorkspaceOpt) -> None:
    """Remove an account with its posts and fetched activity."""
    from clarion.social.accounts import remove_account

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        remove_account(conn, actor, name)
    print_json({"removed": name})


def _image(path: Path) -> dict[str, Any]:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return {"mime_type": mime, "data_b64": base64.b64encode(path.read_bytes()).decode()}


@handle_errors
def post_cmd(
    account: str,
    text: str,
    link: str | None = typer.Option(None, help="a link appended to the text"),
    title: str | None = typer.Option(None, help="article title (WeChat)"),
    image: list[Path] = typer.Option([], exists=True, dir_okay=False, help="repeatable"),
    at: datetime | None = typer.Option(None, help="when to publish (ISO 8601 with offset)"),
    campaign: int | None = typer.Option(None, help="publish when this campaign launches"),
    draft: bool = typer.Option(False, help="keep it as a draft"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Queue a post; it is refused naming every platform limit it breaks."""
    from clarion.social.publishing import create_post

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        print_json(
            create_post(
                conn,
                actor,
                account,
                text,
                link=link,
                title=title,
                images=[_image(p) for p in image],
                scheduled_at=at,
                campaign_id=campaign,
                draft=draft,
            )
        )


@handle_errors
def posts_cmd(
    status: str | None = typer.Option(None, help="only posts in this status"),
    limit: int = typer.Option(50),
    workspace: str = WorkspaceOpt,
) -> None:
    """List posts, newest first."""
    from clarion.social.publishing import list_posts

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(list_posts(conn, actor.workspace_id, status, limit))


@handle_errors
def publish_cmd() -> None:
    """Publish the posts that are due now (the worker does this every few seconds)."""
    from clarion.social.publishing import publish_due

    print_json(publish_due(engine()))


@handle_errors
def fetch_cmd(workspace: str = WorkspaceOpt) -> None:
    """Fetch every account's new mentions, comments and follows now."""
    from clarion.social.publishing import fetch_all

    eng = engine()
    actor = cli_actor(eng, workspace)
    print_json(fetch_all(eng, actor.workspace_id))


def register(app: typer.Typer) -> None:
    group = _group(app)
    group.add_typer(account_app, name="account")
    for name, fn in (
        ("post", post_cmd),
        ("posts", posts_cmd),
        ("publish", publish_cmd),
        ("fetch", fetch_cmd),
    ):
        group.command(name)(fn)
