"""``clarion smsc``: run the SMSC simulator (the demo's default route) until interrupted."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import cast

import orjson
import typer

from clarion.channels.smpp.receipts import IdFormat
from clarion.cli.common import console, handle_errors
from clarion.errors import ValidationFailed


def _pairs(items: list[str], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=") if "=" in item else item.partition(":")
        if not sep or not key:
            raise ValidationFailed(f"{option} wants KEY=VALUE, got {item!r}", field=option)
        out[key] = value
    return out


@handle_errors
def smsc_cmd(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(2775, help="SMPP port (0: any free port)"),
    control_port: int | None = typer.Option(
        None, help="HTTP control port on 127.0.0.1 (0: any free port; unset: none)"
    ),
    account: list[str] = typer.Option(
        [], help="SYSTEM_ID:PASSWORD allowed to bind, repeatable (default clarion:secret)"
    ),
    receipt_delay: float = typer.Option(0.0, help="seconds before a receipt is sent"),
    outcome: list[str] = typer.Option(
        [], help="PREFIX=STATE, repeatable: destinations starting with PREFIX get STATE"
    ),
    mix: list[str] = typer.Option(
        [], help="STATE=WEIGHT, repeatable: the outcome mix for other destinations"
    ),
    throughput: float = typer.Option(0.0, help="submit_sm/s per account; above: throttled"),
    submit_id_format: str = typer.Option("hex", help="ids in submit_sm_resp: hex or decimal"),
    receipt_id_format: str = typer.Option("hex", help="ids in receipts: hex or decimal"),
    seed: int | None = typer.Option(None, help="random seed for the outcome mix"),
) -> None:
    """Run the SMSC simulator; print where it listens as one JSON line on stdout."""
    from clarion.channels.smpp.control import ControlServer
    from clarion.channels.smpp.simulator import SimulatorConfig, SmscSimulator

    accounts = _pairs(account, "account") if account else {"clarion": "secret"}
    try:
        weights = {k.upper(): float(v) for k, v in _pairs(mix, "mix").items()}
    except ValueError:
        raise ValidationFailed("--mix weights must be numbers", field="mix", value=mix) from None
    formats = {"submit-id-format": submit_id_format, "receipt-id-format": receipt_id_format}
    for option, fmt in formats.items():
        if fmt not in ("hex", "decimal"):
            raise ValidationFailed(f"--{option} is hex or decimal", field=option, value=fmt)
    config = SimulatorConfig(
        host=host,
        port=port,
        accounts=accounts,
        receipt_delay=receipt_delay,
        outcomes={k: v.upper() for k, v in _pairs(outcome, "outcome").items()},
        mix=weights or {"DELIVRD": 1.0},
        throughput=throughput,
        submit_id_format=cast(IdFormat, submit_id_format),
        receipt_id_format=cast(IdFormat, receipt_id_format),
        seed=seed,
    )

    async def serve() -> None:
        smsc = SmscSimulator(config)
        smsc.keep_messages = False
        await smsc.start()
        control = ControlServer(smsc)
        where: dict[str, object] = {"smpp": f"{host}:{smsc.port}"}
        if control_port is not None:
            where["control"] = f"http://127.0.0.1:{await control.start(port=control_port)}"
        sys.stdout.write(orjson.dumps(where).decode() + "\n")
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await control.stop()
        await smsc.stop()
        console.print(orjson.dumps(smsc.stats.as_dict()).decode(), highlight=False)

    asyncio.run(serve())


def register(app: typer.Typer) -> None:
    app.command("smsc")(smsc_cmd)
