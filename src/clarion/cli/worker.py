"""``clarion worker``: dispatch due messages, apply receipts, keep the queue healthy."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Any

import orjson
import typer

from clarion.cli.common import WorkspaceOpt, cli_actor, engine, handle_errors


class JsonFormatter(logging.Formatter):
    """One JSON object per log line, so log collectors need no parsing rules."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "at": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["error"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


def setup_logging(level: str) -> None:
    """Send structured logs to standard error."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


@handle_errors
def worker_cmd(
    workspace: str = WorkspaceOpt,
    batch_size: int = typer.Option(1000, help="messages claimed per batch"),
    lease_ttl: float = typer.Option(15.0, help="seconds before a silent worker's work moves on"),
    log_level: str = typer.Option("INFO", help="DEBUG, INFO, WARNING"),
) -> None:
    """Run a delivery worker until interrupted (SIGTERM/SIGINT finish in-flight sends)."""
    from clarion.delivery.worker import run_worker

    setup_logging(log_level)
    eng = engine()
    actor = cli_actor(eng, workspace)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(eng, actor.workspace_id, stop, batch_size=batch_size, lease_ttl=lease_ttl)

    asyncio.run(main())


def register(app: typer.Typer) -> None:
    app.command("worker")(worker_cmd)
