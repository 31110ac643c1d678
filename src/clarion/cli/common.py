"""Helpers shared by CLI commands: the engine, the workspace, error reporting."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.errors import ClarionError

P = ParamSpec("P")
R = TypeVar("R")

console = Console(stderr=True)
WorkspaceOpt = typer.Option("default", "--workspace", "-w", help="workspace slug")


def engine() -> Engine:
    """Return the configured engine with the schema up to date (init is idempotent)."""
    from clarion.db.engine import get_engine
    from clarion.db.setup import init

    eng = get_engine()
    init(eng)
    return eng


def cli_actor(eng: Engine, workspace: str) -> Actor:
    """Return the CLI actor for workspace slug ``workspace``."""
    from clarion.workspaces.service import get_workspace

    with eng.connect() as conn:
        ws = get_workspace(conn, workspace)
    return Actor.cli(int(ws.id))


def print_json(obj: Any) -> None:
    """Print one JSON document on standard output."""
    sys.stdout.write(
        orjson.dumps(
            obj, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str
        ).decode()
        + "\n"
    )


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a ClarionError into one readable line on stderr and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ClarionError as exc:
            console.print(
                f"[red]error[/red] {escape(f'[{exc.code}] {exc}')}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(2) from None

    return wrapper
