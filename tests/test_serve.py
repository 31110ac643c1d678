"""``clarion serve`` as a real process: answers health checks and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    # given a fresh data directory and a free port
    port = _free_port()
    env = {**os.environ, "CLARION_DATA_DIR": str(tmp_path), "CLARION_DATABASE_URL": ""}
    env.pop("CLARION_DATABASE_URL")
    exe = Path(sys.executable).with_name("clarion")
    proc = subprocess.Popen(
        [str(exe), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        # when it has started
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).json()
                break
            except httpx.TransportError:
                time.sleep(0.2)
        # then it is ready with the schema up to date
        assert ready == {"status": "ready", "migrations_pending": False}
        assert (tmp_path / "clarion.db").exists()
    finally:
        # and SIGTERM ends it with status 0
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out.decode(errors="replace")
