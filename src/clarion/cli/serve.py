"""``clarion serve``: the REST API, with a delivery worker in the same process by default.

One process that answers the API and also dispatches keeps the embedded default a single command;
in production run ``clarion serve --no-worker`` behind a load balancer and ``clarion worker``
processes beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from typing import Any

import typer

from clarion.cli.common import WorkspaceOpt, cli_actor, console, engine, handle_errors


@handle_errors
def serve_cmd(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="TCP port (0 picks a free one)"),
    worker: bool = typer.Option(True, "--worker/--no-worker", help="also run a delivery worker"),
    workspace: str = WorkspaceOpt,
    log_level: str = typer.Option("INFO", help="DEBUG, INFO, WARNING"),
    fd: int = typer.Option(
        -1, help="serve on this already-listening socket (a file descriptor) instead of a port"
    ),
    processes: int = typer.Option(
        1, "--processes", min=1, help="API processes sharing the socket (needs --no-worker)"
    ),
) -> None:
    """Serve the API (OpenAPI at /docs) until interrupted."""
    import uvicorn

    from clarion.api.app import create_app
    from clarion.cli.worker import setup_logging
    from clarion.delivery.worker import run_worker

    setup_logging(log_level)
    eng = engine()
    actor = cli_actor(eng, workspace)
    if processes > 1:
        _serve_processes(host, port, fd, processes, worker)
        return

    class Server(uvicorn.Server):
        # uvicorn would re-raise the signal after its shutdown and kill the process before the
        # worker has drained; the signals are handled below instead.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    # uvicorn picks its fastest parts when installed (http="auto": httptools' C parser;
    # loop="auto": uvloop); the send API's CPU budget per request is about 2 ms.
    config = uvicorn.Config(
        create_app(eng),
        host=host,
        port=port,
        fd=None if fd < 0 else fd,
        log_config=None,
        access_log=False,
    )
    server = Server(config)

    async def main() -> None:
        stop = asyncio.Event()

        def shutdown() -> None:
            stop.set()
            server.should_exit = True

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, shutdown)
        tasks: list[asyncio.Task[Any]] = []
        if worker:
            tasks.append(asyncio.create_task(run_worker(eng, actor.workspace_id, stop)))
        try:
            await server.serve()
        finally:
            stop.set()
            await asyncio.gather(*tasks)

    where = f"http://{host}:{port}" if fd < 0 else f"socket fd {fd}"
    console.print(f"serving on {where} (docs at /docs); worker {'on' if worker else 'off'}")
    # The loop uvicorn would pick itself (uvloop when installed), for the worker's tasks too.
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(main())


def _serve_processes(host: str, port: int, fd: int, processes: int, worker: bool) -> None:
    """Serve with uvicorn's process supervisor: one API per core on one socket.

    A send costs about 2 ms of CPU in the API process, so one process tops out near 500 sends/s
    on a core; with PostgreSQL on other cores, more processes take more. Each process builds
    the app from the environment (``CLARION_*``) and keeps its own caches (see
    :mod:`clarion.compliance.cache`: another process sees a change within 2 s). The delivery
    worker runs apart (``clarion worker``), so ``--no-worker`` is required.
    """
    import uvicorn

    if worker:
        raise typer.BadParameter("--processes above 1 needs --no-worker (run clarion worker)")
    console.print(f"serving with {processes} processes (docs at /docs); worker off")
    uvicorn.run(
        "clarion.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        fd=None if fd < 0 else fd,
        workers=processes,
        log_config=None,
        access_log=False,
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)
