"""``clarion message send/show/list`` through Typer's CliRunner."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from clarion.cli.main import app
from clarion.config import get_settings


@pytest.fixture
def cli(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("CLARION_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> Any:
        res = runner.invoke(app, list(args))
        assert res.exit_code == code, res.output
        return orjson.loads(res.stdout) if code == 0 else res.output

    yield run
    get_settings.cache_clear()


def test_message_send_show_and_list(cli: Any, smsc: Any) -> None:
    # given a route (from the smsc fixture)
    # when a message is sent with variables and shown
    sent = cli(
        "message", "send", "--to", "+12025550130", "--text", "Order {{ order.id }} shipped",
        "--vars", '{"order": {"id": "B-9"}}', "--idempotency-key", "cli-1",
    )  # fmt: skip
    shown = cli("message", "show", str(sent["id"]))
    # then it is queued with the rendered text, and listed
    assert sent["text"] == "Order B-9 shipped" and sent["source"] == "cli"
    assert shown["history"][0]["status"] == "queued"
    assert [m["id"] for m in cli("message", "list", "--status", "queued")] == [sent["id"]]


def test_message_send_reports_a_bad_option_in_one_line(cli: Any, smsc: Any) -> None:
    out = cli("message", "send", "--to", "+12025550131", "--text", "x", "--vars", "[1]", code=2)
    assert "vars must be a JSON object" in out
    out = cli("message", "show", "4242", code=2)
    assert "not_found" in out
