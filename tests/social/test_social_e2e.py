"""Cross-promotion end to end (issue #11, "Done when").

1. SMS with a tracked link -> the contact clicks (a real HTTP request to the redirect endpoint)
   -> they follow the brand on a Mastodon instance (a local server playing the API) -> the worker
   fetches and ingests the follow -> attribution credits the message that carried the link.
2. A social post that says "Text JOIN to 12345" is published -> a follower texts JOIN through the
   SMSC simulator -> double opt-in request -> YES -> consent active, counted for the campaign.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.campaigns.control import launch
from clarion.consent.service import current_consent
from clarion.contacts.tables import contacts
from clarion.db.types import utcnow
from clarion.delivery.tables import messages
from clarion.events.tables import events
from clarion.inbound.settings import KeywordIn, add_keyword, set_settings
from clarion.social import identities as ids
from clarion.social.accounts import add_account
from clarion.social.promotion import engagement, join_post_text, set_social_goal
from clarion.social.publishing import create_post, publish_due
from clarion.tracking.attribution import attribute
from clarion.tracking.tables import conversions, link_clicks
from tests.inbound.conftest import Live, factories
from tests.social.contract.mastodon import MastodonState, app, notification
from tests.social.contract.server import serve

PHONE = "+12025550131"


@pytest.fixture
def make(engine: Engine, actor: Actor) -> Any:
    return factories.Factory(engine, actor)


@pytest.fixture
def masto() -> Iterator[tuple[MastodonState, str]]:
    state = MastodonState()
    with serve(app(state)) as url:
        yield state, url


def _count(engine: Engine, table: sa.Table, *where: Any) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
        )


def _wait(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_sms_link_click_then_a_follow_is_attributed_to_the_message(
    engine: Engine,
    actor: Actor,
    make: Any,
    masto: tuple[MastodonState, str],
    api_client: httpx.Client,
) -> None:
    # given a contact who gave their Mastodon handle at signup, a connected brand account
    state, url = masto
    ws = actor.workspace_id
    (fan,) = make.contacts([PHONE])
    make.route("sim")
    with engine.begin() as conn:
        ids.link(conn, actor, fan, "mastodon", "fan@social.example", method="signup")
        add_account(conn, actor, "brand", "mastodon", {"base_url": url, "access_token": "mtoken"})
    # and a campaign whose goal is a follow, with a tracked link to the profile
    body = 'Acme: follow us for early access {{ link("https://social.example/@acme") }} STOP=stop'
    camp = make.campaign(name="follow us", variants=[{"name": "A", "body": body}])
    with engine.begin() as conn:
        set_social_goal(conn, actor, camp, ["follow"])
    launch(engine, actor, camp)

    async def story() -> list[str]:
        run = Live(engine, actor)
        await run.start()
        try:
            # when the SMS is delivered
            await run.until(lambda: _count(engine, messages, messages.c.status == "delivered") == 1)
            texts = run.texts_to(PHONE)
            # and the contact clicks (a real request to the redirect endpoint)
            code = re.search(r"/l/([A-Za-z0-9]+)", texts[0])
            assert code is not None, texts
            res = await asyncio.to_thread(api_client.get, f"/l/{code.group(1)}")
            assert res.status_code in (302, 307)
            await asyncio.to_thread(
                _wait, lambda: _count(engine, link_clicks, link_clicks.c.contact_id == fan) == 1
            )
            # and then follows the brand: the worker fetches and ingests the notification
            follow = notification(1, "follow", "Fan@social.example")
            follow["created_at"] = (utcnow() + timedelta(seconds=1)).isoformat()
            state.notifications.append(follow)
            await run.until(lambda: _count(engine, events, events.c.name == "social_follow") == 1)
            return texts
        finally:
            await run.stop()

    asyncio.run(asyncio.wait_for(story(), 90))
    # then the follow is an event on the contact, and attribution credits the message by click
    with engine.begin() as conn:
        assert (
            conn.execute(
                sa.select(events.c.contact_id).where(events.c.name == "social_follow")
            ).scalar_one()
            == fan
        )
        counts = attribute(conn, ws, utcnow() - timedelta(hours=1), utcnow() + timedelta(hours=1))
        conv = conn.execute(sa.select(conversions)).one()
        msg = conn.execute(sa.select(messages.c.id).where(messages.c.contact_id == fan)).scalar()
        report = engagement(conn, ws, camp)
    assert counts.get("click") == 1
    assert (conv.campaign_id, conv.message_id, conv.contact_id) == (camp, msg, fan)
    assert conv.attributed_by == "click"
    assert report["actions"] == [{"platform": "mastodon", "kind": "follow", "count": 1}]


def test_a_post_inviting_to_text_join_feeds_double_opt_in(
    engine: Engine, actor: Actor, make: Any, masto: tuple[MastodonState, str]
) -> None:
    # given a JOIN keyword tied to a campaign, and a brand account on Mastodon
    state, url = masto
    ws = actor.workspace_id
    make.route("sim")
    camp = make.campaign(name="social sign-ups")
    with engine.begin() as conn:
        add_keyword(conn, actor, KeywordIn(keyword="JOIN", action="join", campaign_id=camp))
        set_settings(conn, actor, {"brand": "Acme", "frequency": "Up to 4 msgs/month"})
        add_account(conn, actor, "brand", "mastodon", {"base_url": url, "access_token": "mtoken"})
        # when a post inviting followers to text JOIN is published
        text = join_post_text(conn, ws, "Spring drop is live!", "join", "12345")
        create_post(conn, actor, "brand", text, campaign_id=camp, scheduled_at=utcnow())
    assert publish_due(engine) == {"published": 1}
    assert "Text JOIN to 12345" in state.statuses[0]["content"]

    async def story() -> list[str]:
        run = Live(engine, actor)
        await run.start()
        try:
            # and a follower (not yet a contact) texts JOIN, then YES to the confirmation
            run.sim.inject_mo(PHONE, "12345", "JOIN")
            await run.until(lambda: run.handled(1))
            await run.until(lambda: len(run.texts_to(PHONE)) == 1)
            run.sim.inject_mo(PHONE, "12345", "YES")
            await run.until(lambda: run.handled(2))
            await run.until(lambda: len(run.texts_to(PHONE)) == 2)
            return run.texts_to(PHONE)
        finally:
            await run.stop()

    texts = asyncio.run(asyncio.wait_for(story(), 90))
    # then they were asked to confirm, and their consent is active
    assert "Reply YES to confirm" in texts[0]
    with engine.connect() as conn:
        cid = conn.execute(sa.select(contacts.c.id).where(contacts.c.phone == PHONE)).scalar_one()
        state_now = current_consent(conn, ws, cid)
        report = engagement(conn, ws, camp)
    assert [(s["purpose"], s["status"]) for s in state_now] == [("marketing", "opted_in")]
    assert report["signups"] == {"confirmed": 1}


def test_the_demo_report_shows_social_engagement(engine: Engine, tmp_path: Any) -> None:
    # given a small demo run (its campaign asks for a follow; some recipients follow, comment)
    import io
    from datetime import UTC, datetime
    from pathlib import Path

    from rich.console import Console

    from clarion.demo.run import run_demo

    out = run_demo(
        engine,
        seed=7,
        contacts=300,
        data_dir=tmp_path,
        now=datetime(2026, 11, 20, 12, tzinfo=UTC),
        console=Console(file=io.StringIO(), width=120),
    )
    steps = {r.step: r.counts for r in out.steps}
    # then the social step ingested follows and comments
    assert steps["social"]["follows"] > 0
    assert steps["social"]["activities ingested"] >= steps["social"]["follows"]
    # and the campaign's HTML report has a social engagement section with attributed follows
    html = next(Path(tmp_path, "reports").glob("campaign-*.html")).read_text(encoding="utf-8")
    assert "Social engagement" in html
    assert "<td>mastodon</td><td>follow</td>" in html
    # and the demo's account is never polled (there is no instance to reach)
    from clarion.social.tables import social_accounts

    with engine.connect() as conn:
        accounts = conn.execute(sa.select(social_accounts.c.name, social_accounts.c.enabled)).all()
    assert [tuple(a) for a in accounts] == [("acme-demo", False)]
