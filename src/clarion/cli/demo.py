"""``clarion demo``: build a realistic demo workspace, deterministic by seed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from clarion.cli.common import console, handle_errors
from clarion.errors import ValidationFailed


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            "--now must be an ISO date or time", field="now", value=text
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@handle_errors
def demo_cmd(
    seed: int = typer.Option(42, help="same seed, same data"),
    contacts: int = typer.Option(20_000, min=10, help="how many customers to invent"),
    data_dir: Path | None = typer.Option(
        None, help="where files (and the SQLite database, unless CLARION_DATABASE_URL) go"
    ),
    now: str | None = typer.Option(
        None, help="reference time the history ends at (ISO, UTC if no offset); default fixed"
    ),
    workspace: str = typer.Option("default", "--workspace", "-w", help="workspace slug"),
) -> None:
    """Build the demo: customers in CN/US/GB/DE, consent, catalogue, a year of orders and events."""
    from clarion.config import get_settings
    from clarion.db.engine import create_engine_for, get_engine
    from clarion.demo.run import run_demo

    settings = get_settings()
    folder = data_dir or settings.data_dir
    if data_dir is not None and not settings.database_url:
        engine = create_engine_for(f"sqlite:///{(data_dir / 'clarion.db').resolve()}")
    else:
        engine = get_engine()
    run_demo(
        engine,
        seed=seed,
        contacts=contacts,
        data_dir=folder,
        now=_when(now),
        workspace=workspace,
        console=console,
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_cmd)
