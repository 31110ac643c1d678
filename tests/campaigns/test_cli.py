"""The command line: a route, a campaign, its estimate, launch, status and cancel."""

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

    def run(*args: str) -> Any:
        res = runner.invoke(app, list(args))
        assert res.exit_code == 0, res.output
        return orjson.loads(res.stdout) if res.stdout.strip() else None

    yield run
    get_settings.cache_clear()


def test_campaign_commands(cli: Any, make: Any) -> None:
    # given contacts and a route
    make.contacts(["+12025550100", "+12025550101"])
    cli("route", "add", "--name", "main", "--connector", "sim", "--price", "0.01")
    # when a campaign is created from options, estimated and launched
    camp = cli(
        "campaign", "create", "--name", "Hello", "--all",
        "--body", "Acme: hi {{ contact.first_name }}. Reply STOP to opt out",
    )  # fmt: skip
    cid = str(camp["id"])
    assert cli("campaign", "estimate", cid)["cost"] == 0.02
    assert cli("campaign", "launch", "--wait", cid)["planned"] == 2
    assert cli("campaign", "plan", cid)["already_planned"] == 2  # a re-plan adds nothing
    # then its status shows the queue, and cancel recalls it
    assert cli("campaign", "status", cid)["messages"] == {"queued": 2}
    assert cli("campaign", "cancel", cid)["recalled"] == 2
    assert cli("campaign", "list")[0]["status"] == "cancelled"


def test_launch_without_wait_leaves_the_plan_to_a_worker(cli: Any, make: Any) -> None:
    # given a contact, a route and a draft
    make.contacts(["+12025550100"])
    make.route("main")
    cid = str(make.campaign())
    # when it is launched without --wait
    launched = cli("campaign", "launch", cid)
    # then it runs with its plan pending and nothing queued yet
    assert (launched["status"], launched["plan"]["state"]) == ("running", "pending")
    assert launched["messages"] == {}
