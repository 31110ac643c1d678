"""``clarion smsc`` as a separate process, driven through its HTTP control port."""

from __future__ import annotations

import asyncio
import signal
import sys

import httpx
import orjson
from tests.channels.smpp_helpers import Reports, config_for, messages, run, until

from clarion.channels.smpp.client import Connector


def test_the_cli_simulator_serves_smpp_and_obeys_its_control_port() -> None:
    async def scenario() -> None:
        # given `clarion smsc` on ephemeral ports, UNDELIV for one prefix
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from clarion.cli.main import main; main()",
            "smsc", "--port", "0", "--control-port", "0", "--outcome", "4477001=UNDELIV",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        where = orjson.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
        port = int(where["smpp"].rsplit(":", 1)[1])
        reports = Reports()
        try:
            conn = Connector(config_for(port), reports.receipts.append, reports.mo.append)
            await conn.start()
            async with httpx.AsyncClient(base_url=where["control"]) as control:
                # when messages are sent and an MO is injected through the control port
                results = await conn.send(messages(3) + messages(2, "4477001"))
                mo = await control.post("/mo", json={"from": "+15550001", "to": "12345",
                                                     "text": "STOP"})  # fmt: skip
                await until(lambda: len(reports.receipts) == 5 and len(reports.mo) == 1)
                # and the connections are dropped on demand
                dropped = await control.post("/drop")
                await until(lambda: conn.stats.binds_made == 2 and conn.binds_up == 1)
                stats = (await control.get("/stats")).json()
                missing = await control.get("/nothing")
            await conn.stop()
        finally:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
        # then everything happened as asked
        assert all(r.ok for r in results)
        assert sorted(r.state for r in reports.receipts) == ["DELIVRD"] * 3 + ["UNDELIV"] * 2
        assert mo.json() == {"parts": 1} and reports.mo[0].text == "STOP"
        assert dropped.json() == {"dropped": 1}
        assert stats["accepted"] == 5 and stats["outcomes"] == {"DELIVRD": 3, "UNDELIV": 2}
        assert missing.status_code == 404
        assert proc.returncode == 0

    run(scenario(), timeout=60)
