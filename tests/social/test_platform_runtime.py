"""The publishing runtime through its edges: campaign steps, the API and the CLI."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import orjson
import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from clarion.audit.service import Actor
from clarion.campaigns.service import transition
from clarion.cli.main import app
from clarion.config import get_settings
from clarion.delivery import hooks
from clarion.social.accounts import add_account, list_accounts
from clarion.social.publishing import create_post, fetch_all, get_post, publish_due
from clarion.workspaces.service import create_api_key
from tests.campaigns.conftest import new_campaign
from tests.social.contract.mastodon import MastodonState
from tests.social.contract.mastodon import app as mastodon_app
from tests.social.contract.server import serve


@pytest.fixture
def masto() -> Iterator[tuple[MastodonState, str]]:
    state = MastodonState()
    with serve(mastodon_app(state)) as url:
        yield state, url


def test_a_campaign_step_post_waits_for_the_launch(
    engine: Engine, actor: Actor, masto: tuple[MastodonState, str]
) -> None:
    state, url = masto
    cid = new_campaign(engine, actor)
    with engine.begin() as conn:
        add_account(conn, actor, "brand", "mastodon", {"base_url": url, "access_token": "mtoken"})
        post = create_post(conn, actor, "brand", "Text JOIN to 12345", campaign_id=cid)
    # given the campaign is still a draft, the post is not due
    assert publish_due(engine) == {}
    # when the campaign launches
    with engine.begin() as conn:
        transition(conn, actor, cid, "running")
    # then the post goes out on the next pass
    assert publish_due(engine) == {"published": 1}
    with engine.connect() as conn:
        assert get_post(conn, actor.workspace_id, post["id"])["campaign_id"] == cid
    assert len(state.statuses) == 1


def test_the_api_refuses_a_post_naming_every_problem_and_queues_a_good_one(
    engine: Engine, actor: Actor, api_client: httpx.Client, masto: tuple[MastodonState, str]
) -> None:
    _, url = masto
    with engine.begin() as conn:
        key = create_api_key(conn, actor, "t", ["admin"])[1]
    auth = {"Authorization": f"Bearer {key}"}
    made = api_client.post(
        "/v1/social/accounts",
        headers=auth,
        json={
            "name": "brand",
            "platform": "mastodon",
            "settings": {"base_url": url, "access_token": "mtoken"},
        },
    )
    assert made.status_code == 201 and "mtoken" not in made.text
    bad = api_client.post(
        "/v1/social/posts",
        headers=auth,
        json={
            "account": "brand",
            "text": "x" * 600,
            "images": [{"mime_type": "image/bmp", "data_b64": "AAAA"}],
        },
    )
    assert bad.status_code == 422
    problems = bad.json()["error"]["fields"]["problems"]
    assert [p["field"] for p in problems] == ["text", "images[0].mime_type"]
    assert problems[0]["value"] == 600
    good = api_client.post(
        "/v1/social/posts", headers=auth, json={"account": "brand", "text": "hello"}
    )
    assert good.status_code == 201 and good.json()["status"] == "scheduled"
    cancelled = api_client.post(f"/v1/social/posts/{good.json()['id']}/cancel", headers=auth)
    assert cancelled.json()["status"] == "cancelled"
    assert publish_due(engine) == {}
    assert api_client.get("/v1/social/posts", headers=auth).json()[0]["status"] == "cancelled"


@pytest.fixture
def cli(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("CLARION_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_the_cli_connects_an_account_posts_publishes_and_fetches(
    workspace_id: int, cli: CliRunner, masto: tuple[MastodonState, str]
) -> None:
    state, url = masto
    res = cli.invoke(
        app,
        ["social", "account", "add", "brand", "--platform", "mastodon",
         "--set", f"base_url={url}", "--set", "access_token=mtoken"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "mtoken" not in res.output
    res = cli.invoke(app, ["social", "post", "brand", "x" * 501])
    assert res.exit_code == 2 and "at most 500" in res.output
    assert cli.invoke(app, ["social", "post", "brand", "hello from the CLI"]).exit_code == 0
    res = cli.invoke(app, ["social", "publish"])
    assert orjson.loads(res.stdout) == {"published": 1}
    assert state.statuses[0]["content"] == "hello from the CLI"
    res = cli.invoke(app, ["social", "posts"])
    assert orjson.loads(res.stdout)[0]["platform_post_id"] == state.statuses[0]["id"]
    res = cli.invoke(app, ["social", "fetch"])
    assert orjson.loads(res.stdout) == {"brand": 0}
    assert cli.invoke(app, ["social", "account", "remove", "brand"]).exit_code == 0
    assert orjson.loads(cli.invoke(app, ["social", "account", "list"]).stdout) == []


def test_an_unreachable_platform_is_recorded_on_its_account_and_the_others_still_fetch(
    engine: Engine, actor: Actor, masto: tuple[MastodonState, str]
) -> None:
    _, url = masto
    # given a Weibo account whose host refuses connections (a port nobody listens on)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with engine.begin() as conn:
        settings = {"safe_domain": "brand.example.cn", "base_url": dead}
        add_account(conn, actor, "wb", "weibo", {**settings, "access_token": "wb-secret-token"})
        add_account(conn, actor, "brand", "mastodon", {"base_url": url, "access_token": "mtoken"})
    # when every account is fetched
    assert fetch_all(engine) == {"brand": 0, "wb": 0}
    # then the failure is kept on its account, without the token
    with engine.connect() as conn:
        wb = next(a for a in list_accounts(conn, actor.workspace_id) if a["name"] == "wb")
    assert wb["last_error"].startswith("ConnectError") and "wb-secret-token" not in wb["last_error"]


def test_the_worker_runs_the_publish_and_fetch_jobs(
    engine: Engine, actor: Actor, masto: tuple[MastodonState, str]
) -> None:
    state, url = masto
    hooks.load_all_jobs()
    jobs = {j.name: j for j in hooks.jobs()}
    with engine.begin() as conn:
        add_account(conn, actor, "brand", "mastodon", {"base_url": url, "access_token": "mtoken"})
        create_post(conn, actor, "brand", "from the worker")
    # when the worker runs the social jobs
    assert jobs["social.publish"].run(engine, "w1") == 1
    state.notifications.append({"id": "1", "type": "follow", "created_at": "2026-11-22T10:00:00Z",
                                "account": {"id": "9", "acct": "ann"}})  # fmt: skip
    assert jobs["social.fetch"].run(engine, "w1") == 1
    # then the post is out and the follow is stored
    assert [s["content"] for s in state.statuses] == ["from the worker"]
