"""``clarion template save/lint/preview/list/delete``: saved message templates."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from clarion.cli.common import WorkspaceOpt, cli_actor, engine, handle_errors, print_json
from clarion.errors import ValidationFailed

template_app = typer.Typer(help="Message templates.", no_args_is_help=True)

BodyOpt = typer.Option(None, "--body", help="the template text")
FileOpt = typer.Option(None, "--file", help="read the template text from a file ('-': stdin)")
VariantOpt = typer.Option(
    [], "--variant", help="LOCALE=TEXT or LOCALE=@FILE, repeatable (e.g. zh-CN=@zh.txt)"
)
ChannelOpt = typer.Option("sms", "--channel", help="sms, email or social")


def _body(body: str | None, file: str | None) -> str:
    if body is not None:
        return body
    if file == "-":
        return sys.stdin.read()
    if file:
        return Path(file).read_text(encoding="utf-8")
    raise ValidationFailed("give --body or --file", field="body")


def _variants(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        tag, sep, value = item.partition("=")
        if not sep or not tag:
            raise ValidationFailed(
                f"--variant wants LOCALE=TEXT or LOCALE=@FILE, got {item!r}",
                field="variant",
                value=item,
            )
        out[tag] = Path(value[1:]).read_text(encoding="utf-8") if value.startswith("@") else value
    return out


@template_app.command("save")
@handle_errors
def save_cmd(
    name: str,
    body: str | None = BodyOpt,
    file: str | None = FileOpt,
    variant: list[str] = VariantOpt,
    channel: str = ChannelOpt,
    purpose: str = typer.Option("marketing", "--purpose", help="marketing, transactional..."),
    workspace: str = WorkspaceOpt,
) -> None:
    """Lint and save a template (a new version if it changed)."""
    from clarion.messages.service import save_template

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        saved = save_template(
            conn,
            actor,
            name=name,
            body=_body(body, file),
            channel=channel,
            purpose=purpose,
            variants=_variants(variant),
        )
    print_json(saved)


@template_app.command("lint")
@handle_errors
def lint_cmd(
    name: str | None = typer.Argument(None, help="a saved template (or give --body/--file)"),
    body: str | None = BodyOpt,
    file: str | None = FileOpt,
    variant: list[str] = VariantOpt,
    channel: str = ChannelOpt,
    workspace: str = WorkspaceOpt,
) -> None:
    """Report every problem with line, column and name; exit 1 when there is an error."""
    from clarion.messages.service import get_template, lint_source, workspace_schema

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        schema = workspace_schema(conn, actor.workspace_id)
        if name is not None and body is None and file is None:
            saved = get_template(conn, actor.workspace_id, name, channel=channel)
            source, variants = saved["body"], dict(saved["variants"])
        else:
            source, variants = _body(body, file), _variants(variant)
    report = lint_source(source, variants, known=schema)
    print_json(report)
    if not report["ok"]:
        raise typer.Exit(1)


@template_app.command("preview")
@handle_errors
def preview_cmd(
    name: str,
    contact: int = typer.Option(..., "--contact", help="contact id to render for"),
    price: float | None = typer.Option(None, "--price", help="price per part"),
    channel: str = ChannelOpt,
    workspace: str = WorkspaceOpt,
) -> None:
    """Render a saved template for a contact: text, encoding, parts and cost."""
    from clarion.messages.service import preview_for_contact

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        out = preview_for_contact(
            conn, actor.workspace_id, name, contact, channel=channel, price_per_part=price
        )
    print_json(out)


@template_app.command("list")
@handle_errors
def list_cmd(
    channel: str | None = typer.Option(None, "--channel"), workspace: str = WorkspaceOpt
) -> None:
    """List the workspace's templates."""
    from clarion.messages.service import list_templates

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(list_templates(conn, actor.workspace_id, channel=channel))


@template_app.command("delete")
@handle_errors
def delete_cmd(name: str, channel: str = ChannelOpt, workspace: str = WorkspaceOpt) -> None:
    """Delete a template."""
    from clarion.messages.service import delete_template

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.begin() as conn:
        delete_template(conn, actor, name, channel=channel)
    print_json({"deleted": name})


def register(app: typer.Typer) -> None:
    app.add_typer(template_app, name="template")
