"""Reports through the API and the CLI."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pyarrow.parquet as pq
import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from clarion.audit.service import Actor
from clarion.cli.main import app
from clarion.config import get_settings
from tests.analytics.test_report import build


def test_report_api_json_html_and_csv(
    engine: Engine,
    actor: Actor,
    make: Any,
    api_client: httpx.Client,
    token: Callable[[list[str]], str],
) -> None:
    # given a campaign and a key that may read campaigns
    cid, _ = build(engine, actor, make)
    auth = {"authorization": f"Bearer {token(['campaigns:read'])}"}
    # when its report is fetched as JSON, HTML and CSV
    data = api_client.get(f"/v1/campaigns/{cid}/report", headers=auth)
    page = api_client.get(f"/v1/campaigns/{cid}/report.html", headers=auth)
    csv = api_client.get(f"/v1/campaigns/{cid}/messages.csv", headers=auth)
    # then each answers with the campaign's figures
    assert data.status_code == 200, data.text
    assert data.json()["funnel"]["delivered"] == 27
    assert page.status_code == 200 and page.text.count("<svg") == 6
    assert csv.status_code == 200 and len(csv.text.strip().splitlines()) == 38 + 1
    # and another workspace's campaign id, or a bad correction, is refused by field
    missing = api_client.get("/v1/campaigns/999999/report", headers=auth)
    assert missing.status_code == 404
    bad = api_client.get(f"/v1/campaigns/{cid}/report?correction=none", headers=auth)
    assert bad.status_code == 422
    # and a key without the scope is refused
    other = {"authorization": f"Bearer {token(['events:write'])}"}
    assert api_client.get(f"/v1/campaigns/{cid}/report", headers=other).status_code == 403


def test_route_health_api(
    engine: Engine, actor: Actor, make: Any, api_client: httpx.Client, token: Any
) -> None:
    make.route("main")
    auth = {"authorization": f"Bearer {token(['campaigns:read'])}"}
    res = api_client.get("/v1/routes/health?hours=6", headers=auth)
    assert res.status_code == 200 and res.json()["hours"] == 6


@pytest.fixture
def cli_env(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("CLARION_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_report_cli_prints_the_funnel_and_writes_files(
    engine: Engine, actor: Actor, make: Any, tmp_path: Path, cli_env: CliRunner
) -> None:
    # given a campaign
    cid, _ = build(engine, actor, make)
    # when the report command runs with every output
    html, csv, parquet = tmp_path / "r.html", tmp_path / "m.csv", tmp_path / "m.parquet"
    res = cli_env.invoke(
        app,
        ["report", "campaign", str(cid), "--html", str(html), "--csv", str(csv),
         "--parquet", str(parquet)],
    )  # fmt: skip
    # then it prints the funnel and writes the three files
    assert res.exit_code == 0, res.output
    assert "delivered" in res.output and "no winner" in res.output
    assert html.read_text(encoding="utf-8").count("<svg") == 6
    assert pq.read_table(parquet).num_rows == 38
    # and --json gives the same figures as data
    js = cli_env.invoke(app, ["report", "campaign", str(cid), "--json"])
    assert orjson.loads(js.stdout)["funnel"]["sent"] == 30
    # and an unknown campaign is one readable error line with exit status 2
    bad = cli_env.invoke(app, ["report", "campaign", "999999"])
    assert bad.exit_code == 2 and "not_found" in bad.output


def test_link_cli_creates_a_link_and_changes_settings(
    engine: Engine, actor: Actor, cli_env: CliRunner
) -> None:
    res = cli_env.invoke(app, ["link", "settings", "--base-url", "https://go.acme.test/l"])
    assert res.exit_code == 0, res.output
    made = cli_env.invoke(app, ["link", "create", "https://shop.example/x"])
    assert made.exit_code == 0, made.output
    link = orjson.loads(made.stdout)
    assert link["short_url"] == f"https://go.acme.test/l/{link['code']}"
    bad = cli_env.invoke(app, ["link", "create", "mailto:x@example.com"])
    assert bad.exit_code == 2 and "url" in bad.output
