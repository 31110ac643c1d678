"""Benchmark: HTTP SMS provider send path and provider callbacks (receipts) into the outbox.

Part 1 (no database): ``TwilioChannel.send`` in batches against a minimal Twilio-shaped server
(Basic auth, form body, 201 JSON) running in its own process on 127.0.0.1, as a provider would.
Reports messages/s and the client's CPU per message: what a worker pays per HTTP message.

Part 2 (``--db``): status callbacks posted to Clarion's ``/v1/callbacks/<key>/status`` (served
by uvicorn in its own process) for messages submitted through a Kannel connector, each applied to
the outbox (match by provider id, mark delivered). Reports callbacks/s.

    .venv/bin/python bench/bench_providers.py                      # 20,000 sends, 5,000 callbacks
    .venv/bin/python bench/bench_providers.py --tiny               # a few seconds, for make test
    .venv/bin/python bench/bench_providers.py --db postgresql --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import time
from typing import Any

import httpx

from _common import pg_reachable, scratch_engine
from clarion.channels.base import OutboundMessage
from clarion.channels.config import ConnectorConfig
from clarion.channels.http.twilio import TwilioChannel

SID = "AC" + "0123456789abcdef" * 2


def _fake_twilio(sock: socket.socket) -> None:
    """Serve a minimal Messages resource (in a child process)."""
    import itertools

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    ids = itertools.count(1)

    async def create(request: Request) -> JSONResponse:
        if not request.headers.get("authorization", "").startswith("Basic "):
            return JSONResponse({"code": 20003}, status_code=401)
        await request.body()
        return JSONResponse({"sid": f"SM{next(ids):032x}", "status": "queued"}, status_code=201)

    app = Starlette(
        routes=[Route(f"/2010-04-01/Accounts/{SID}/Messages.json", create, methods=["POST"])]
    )
    uvicorn.Server(uvicorn.Config(app, log_level="error", access_log=False)).run(sockets=[sock])


def _listen() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    return sock


def bench_send(n: int, concurrency: int, batch: int) -> dict[str, Any]:
    """Send ``n`` messages through the Twilio channel; return throughput and CPU per message."""
    sock = _listen()
    proc = multiprocessing.get_context("fork").Process(target=_fake_twilio, args=(sock,))
    proc.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    cfg = ConnectorConfig(
        "tw", "twilio", {"account_sid": SID, "base_url": url, "concurrency": concurrency,
                         "sender": "+15005550006"}, {"auth_token": "token-123456"},
    )  # fmt: skip
    channel = TwilioChannel(cfg)

    async def run() -> tuple[float, float, int]:
        await channel.open()
        await channel.send([OutboundMessage(ref="warm", to="+12025550100", text="warm")])
        ok = 0
        cpu0, t0 = time.process_time(), time.perf_counter()
        for start in range(0, n, batch):
            msgs = [
                OutboundMessage(ref=str(i), to=f"+1202{i:07d}", text="Your code is 4321")
                for i in range(start, min(n, start + batch))
            ]
            ok += sum(r.ok for r in await channel.send(msgs))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        await channel.close()
        return wall, cpu, ok

    try:
        wall, cpu, ok = asyncio.run(run())
    finally:
        proc.terminate()
        proc.join(10)
        sock.close()
    return {"messages": n, "accepted": ok, "wall_s": round(wall, 3),
            "msgs_per_s": round(n / wall), "client_cpu_us_per_msg": round(cpu / n * 1e6, 1),
            "concurrency": concurrency}  # fmt: skip


def _serve_api(url: str, sock: socket.socket) -> None:
    import uvicorn

    from clarion.api.app import create_app
    from clarion.db.engine import create_engine_for

    app = create_app(create_engine_for(url))
    uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off", access_log=False)).run(
        sockets=[sock]
    )


def bench_callbacks(kind: str, n: int) -> dict[str, Any]:
    """Submit ``n`` outbox messages as if through Kannel, then post their DLRs to the API."""
    import sqlalchemy as sa

    from clarion.audit.service import Actor
    from clarion.channels.service import create_connector
    from clarion.contacts.tables import contacts
    from clarion.db.types import utcnow
    from clarion.delivery.routes import RouteCreate, create_route
    from clarion.delivery.tables import message_attempts, messages
    from clarion.workspaces.service import ensure_workspace

    with scratch_engine(kind) as eng:
        url = eng.url.render_as_string(hide_password=False)
        now = utcnow()
        with eng.begin() as conn:
            ws = ensure_workspace(conn)
            actor = Actor.system(ws, "bench")
            key = create_connector(
                conn, actor, "kannel", "kannel", {"username": "u", "password": "p"}
            )["callback_key"]
            route = create_route(conn, actor, RouteCreate(name="k", connector="kannel"))
            ids = [
                int(r.id)
                for r in conn.execute(
                    contacts.insert().returning(contacts.c.id),
                    [
                        {
                            "workspace_id": ws,
                            "phone": f"+1202{i:07d}",
                            "created_at": now,
                            "updated_at": now,
                        }
                        for i in range(n)
                    ],
                )
            ]
            mids = [
                int(r.id)
                for r in conn.execute(
                    messages.insert().returning(messages.c.id),
                    [
                        {
                            "workspace_id": ws,
                            "contact_id": c,
                            "status": "submitted",
                            "channel": "sms",
                            "destination": f"+1202{i:07d}",
                            "route_id": route,
                            "send_at": now,
                            "queued_at": now,
                            "provider_id": f"pid{i}",
                            "submitted_at": now,
                        }
                        for i, c in enumerate(ids)
                    ],
                )
            ]
            conn.execute(
                message_attempts.insert(),
                [
                    {
                        "message_id": m,
                        "route_id": route,
                        "result": "submitted",
                        "provider_id": f"pid{i}",
                        "at": now,
                    }
                    for i, m in enumerate(mids)
                ],
            )
        sock = _listen()
        proc = multiprocessing.get_context("fork").Process(target=_serve_api, args=(url, sock))
        proc.start()
        base = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/callbacks/{key}/status"

        async def post_all() -> float:
            gate = asyncio.Semaphore(16)
            async with httpx.AsyncClient(timeout=60) as client:

                async def one(i: int) -> None:
                    async with gate:
                        r = await client.get(base, params={"id": f"pid{i}", "type": "1"})
                        r.raise_for_status()

                await one(0)
                t0 = time.perf_counter()
                await asyncio.gather(*(one(i) for i in range(1, n)))
                return time.perf_counter() - t0

        try:
            wall = asyncio.run(post_all())
        finally:
            proc.terminate()
            proc.join(10)
            sock.close()
        with eng.connect() as conn:
            delivered = conn.execute(
                sa.select(sa.func.count()).where(messages.c.status == "delivered")
            ).scalar_one()
    return {"db": kind, "callbacks": n, "delivered": int(delivered), "wall_s": round(wall, 3),
            "callbacks_per_s": round((n - 1) / wall)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="a seconds-long smoke run")
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--callbacks", type=int, default=5_000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--batch", type=int, default=250)
    args = ap.parse_args()
    if args.tiny:
        args.messages, args.callbacks = 500, 200
    print("load average:", os.getloadavg())
    print("send:", bench_send(args.messages, args.concurrency, args.batch))
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        if kind == "postgresql" and not pg_reachable():
            print("postgresql: unreachable, skipped")
            continue
        print("callbacks:", bench_callbacks(kind, args.callbacks))


if __name__ == "__main__":
    main()
