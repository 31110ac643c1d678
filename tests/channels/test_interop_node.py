"""Interoperability: our connector against an SMSC not written here (npm ``smpp`` server).

The server script is tests/channels/interop/server.js; its npm dependency is pinned in the
package-lock.json beside it and installed here on first use (node_modules is not committed).
Without node/npm the test is skipped with the reason, except under CI=true where it fails.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from tests.channels.smpp_helpers import Reports, messages, run, until

from clarion.channels.base import OutboundMessage
from clarion.channels.smpp.client import Connector
from clarion.channels.smpp.config import ConnectorConfig

INTEROP = Path(__file__).parent / "interop"


def _unavailable(reason: str) -> None:
    message = f"npm smpp interop server unavailable: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: this test must run)")
    pytest.skip("LOUD SKIP -- " + message)


@pytest.fixture(scope="session")
def node_server_script() -> Path:
    """Return server.js with its dependencies installed (npm ci, once)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        _unavailable("node or npm is not installed")
    if not (INTEROP / "node_modules" / "smpp").is_dir():
        done = subprocess.run(
            [npm or "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=INTEROP,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            _unavailable(f"npm ci failed: {done.stderr.strip()[-500:]}")
    return INTEROP / "server.js"


async def _start_node(script: Path) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(script),
        "clarion",
        "secret",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 20)
    return proc, int(orjson.loads(line)["port"])


def _config(port: int) -> ConnectorConfig:
    return ConnectorConfig(
        name="node",
        host="127.0.0.1",
        port=port,
        system_id="clarion",
        password="secret",
        submit_id_format="hex",
        receipt_id_format="decimal",
        reconnect_min=0.05,
        reconnect_max=0.5,
    )


def test_our_connector_works_against_the_npm_smpp_server(node_server_script: Path) -> None:
    async def scenario() -> None:
        proc, port = await _start_node(node_server_script)
        reports = Reports()
        try:
            # given a connector that knows this SMSC writes hex ids, then decimal in receipts
            cfg = replace(_config(port), concatenation="sar")
            conn = Connector(cfg, reports.receipts.append, reports.mo.append)
            await conn.start()
            assert conn.binds_up == 1
            # when 50 messages, a two-part message, and a message that triggers an MO are sent
            long = OutboundMessage(ref="long", to="447700900002", segments=[b"part1", b"part2"])
            trigger = OutboundMessage(ref="trigger", to="000", sender="12345", segments=[b"x"])
            results = await conn.send([*messages(50), long, trigger])
            await until(lambda: len(reports.receipts) == 53 and len(reports.mo) == 1)
            await conn.stop()
        finally:
            proc.terminate()
            await proc.wait()
        # then all were accepted, one id per part
        assert all(r.ok for r in results) and results[50].parts == 2
        # and every receipt (decimal ids) is matched to the message and part (hex ids)
        assert all(r.ref is not None and r.state == "DELIVRD" for r in reports.receipts)
        assert {(r.ref, r.part) for r in reports.receipts if r.ref == "long"} == {
            ("long", 0),
            ("long", 1),
        }
        # and the MO came through
        assert (reports.mo[0].sender, reports.mo[0].to, reports.mo[0].text) == (
            "447700900999",
            "12345",
            "STOP",
        )

    run(scenario())


def test_the_npm_server_refuses_a_wrong_password(node_server_script: Path) -> None:
    async def scenario() -> None:
        proc, port = await _start_node(node_server_script)
        try:
            conn = Connector(replace(_config(port), password="wrong", submit_wait=0.1))
            await conn.start()
            up, error = conn.binds_up, conn.binds[0].last_error
            await conn.stop(drain=False)
        finally:
            proc.terminate()
            await proc.wait()
        assert up == 0 and error is not None and "ESME_RBINDFAIL" in error

    run(scenario())
