"""A tiny HTTP control port for a simulator run by ``clarion smsc`` (127.0.0.1 only).

    GET  /stats                     what the simulator saw and did (JSON)
    GET  /config                    its current behaviour
    POST /config     {"throughput": 100, "receipt_delay": 2, "mix": {"DELIVRD": 0.9, ...}}
    POST /mo         {"from": "+447700900123", "to": "12345", "text": "STOP", "split": null}
    POST /drop       drop every ESME connection
    POST /malformed  {"kind": "unknown_command" | "bad_body" | "bad_length"}

Plain HTTP/1.1 with ``Connection: close``, enough for curl and for tests; nothing else listens.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import orjson

from clarion.channels.smpp.simulator import SmscSimulator

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 409: "Conflict"}


class ControlServer:
    """Serve the control endpoints of one simulator."""

    def __init__(self, smsc: SmscSimulator) -> None:
        self.smsc = smsc
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen and return the port."""
        self.server = await asyncio.start_server(self._serve, host, port)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        """Stop listening."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            lines = head.decode("latin-1").split("\r\n")
            method, path, *_ = lines[0].split(" ")
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            length = int(headers.get("content-length", "0") or 0)
            body = await reader.readexactly(length) if length else b""
            status, payload = self.handle(method, path.split("?")[0], body)
        except (ValueError, asyncio.IncompleteReadError, TimeoutError) as exc:
            status, payload = 400, {"error": str(exc)}
        data = orjson.dumps(payload, default=str)
        writer.write(
            f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
            + data
        )
        try:
            await writer.drain()
        finally:
            writer.close()

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        """Return (status, JSON payload) for one request."""
        smsc = self.smsc
        args: dict[str, Any] = orjson.loads(body) if body.strip() else {}
        if not isinstance(args, dict):
            return 400, {"error": "send a JSON object"}
        if method == "GET" and path == "/stats":
            return 200, smsc.stats.as_dict() | {"sessions": len(smsc.sessions)}
        if method == "GET" and path == "/config":
            return 200, dataclasses.asdict(smsc.config)
        if method == "POST" and path == "/config":
            smsc.configure(**args)
            return 200, dataclasses.asdict(smsc.config)
        if method == "POST" and path == "/mo":
            try:
                parts = smsc.inject_mo(
                    str(args["from"]),
                    str(args["to"]),
                    str(args["text"]),
                    split=args.get("split"),
                    concatenation=str(args.get("concatenation", "udh")),
                )
            except KeyError as exc:
                return 400, {"error": f"missing {exc.args[0]!r}"}
            except RuntimeError as exc:
                return 409, {"error": str(exc)}
            return 200, {"parts": parts}
        if method == "POST" and path == "/drop":
            return 200, {"dropped": smsc.drop_connections()}
        if method == "POST" and path == "/malformed":
            return 200, {"sent": smsc.send_malformed(str(args.get("kind", "unknown_command")))}
        return 404, {"error": f"no {method} {path}"}
