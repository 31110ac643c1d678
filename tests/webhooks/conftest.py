"""Webhook fixtures: a real HTTP receiver on 127.0.0.1 that records and verifies requests."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from clarion.webhooks.signing import HEADER, SignatureError, verify

_spec = importlib.util.spec_from_file_location(
    "sending_fixtures_for_webhooks", Path(__file__).parent.parent / "sending" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_sending = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_sending)

make = _sending.make
smsc = _sending.smsc
run_worker = _sending.run_worker
key = _sending.key


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    """What the receiver got, and the statuses it answers with (then 200 for ever)."""

    url: str
    got: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    #: path -> secret: requests to that path must carry a valid Clarion-Signature (else 401)
    secrets: dict[str, str] = field(default_factory=dict)
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self, path: str | None = None) -> list[str]:
        with self.lock:
            return [r.json["type"] for r in self.got if path is None or r.path == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP server on an ephemeral loopback port, in a thread."""
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.lock:
                secret = state.secrets.get(self.path)
                try:
                    if secret is not None:
                        verify(secret, self.headers.get(HEADER), body)
                except SignatureError:
                    state.bad_signatures += 1
                    code = 401
                else:
                    state.got.append(Received(self.path, dict(self.headers.items()), body))
                    code = state.answers.pop(0) if state.answers else 200
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
