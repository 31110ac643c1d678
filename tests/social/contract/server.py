"""Serve a fake platform (a Starlette app) on 127.0.0.1 and read request bodies by hand.

The fakes play each platform's published contract over real HTTP on loopback. Form and
multipart bodies are parsed with the standard library (``urllib.parse``, ``email``) so the
fakes need nothing Clarion itself does not install.
"""

from __future__ import annotations

import email.parser
import email.policy
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Run ``app`` on an ephemeral loopback port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


async def form(request: Request) -> list[tuple[str, str]]:
    """Return an ``application/x-www-form-urlencoded`` body as (name, value) pairs."""
    return parse_qsl((await request.body()).decode(), keep_blank_values=True)


async def multipart(request: Request) -> dict[str, tuple[str | None, str, bytes]]:
    """Return a ``multipart/form-data`` body as name -> (filename, content type, bytes)."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + await request.body())
    out: dict[str, tuple[str | None, str, bytes]] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        out[str(name)] = (part.get_filename(), part.get_content_type(), data)
    return out
