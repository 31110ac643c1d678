"""The root ``clarion`` command; feature modules in this package register their own commands."""

from __future__ import annotations

import importlib
import pkgutil

import typer

import clarion.cli

app = typer.Typer(
    name="clarion",
    help="Clarion: self-hosted SMS and social-media marketing.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

_SKIP = {"main", "common"}


def _register_all() -> None:
    for info in sorted(pkgutil.iter_modules(clarion.cli.__path__), key=lambda i: i.name):
        if info.name in _SKIP or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"clarion.cli.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_all()


def main() -> None:
    """Entry point of the ``clarion`` script."""
    app()
