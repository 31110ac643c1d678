"""End to end through the SMSC simulator and the worker (issue #8, "Done when").

A campaign goes out; the contact replies (退订, STOP); their queued marketing messages are
cancelled; the ledger shows the reply; the next campaign excludes them as "opted out". And a
double opt-in: JOIN -> confirmation request -> YES -> consent active -> next campaign includes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.campaigns.control import launch, pause
from clarion.campaigns.tables import campaign_exclusions
from clarion.consent.service import consent_history, current_consent
from clarion.delivery.tables import messages
from clarion.inbound.settings import KeywordIn, add_keyword, set_settings
from clarion.inbound.tables import inbound_messages

CN_BODY = "【Acme】春季新品上市，欢迎到店选购。回T退订"
US_BODY = "Acme: Hi, new spring styles are in. Reply STOP to opt out"


def _status(engine: Engine, campaign_id: int, contact_id: int) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(messages.c.status).where(
                messages.c.campaign_id == campaign_id, messages.c.contact_id == contact_id
            )
        ).scalar()


def _delivered(engine: Engine, campaign_id: int, n: int) -> bool:
    with engine.connect() as conn:
        got = conn.execute(
            sa.select(sa.func.count())
            .select_from(messages)
            .where(messages.c.campaign_id == campaign_id, messages.c.status == "delivered")
        ).scalar_one()
    return int(got) == n


def _replies(engine: Engine, contact_id: int) -> int:
    """Return how many automatic replies were queued for the contact (sent or not)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(messages)
                .where(messages.c.contact_id == contact_id, messages.c.source == "inbound")
            ).scalar_one()
        )


def _unsent_replies(engine: Engine, contact_id: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(messages)
                .where(
                    messages.c.contact_id == contact_id,
                    messages.c.source == "inbound",
                    messages.c.status.in_(["queued", "sending"]),
                )
            ).scalar_one()
        )


def _exclusion(engine: Engine, campaign_id: int, contact_id: int) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(campaign_exclusions.c.reason).where(
                    campaign_exclusions.c.campaign_id == campaign_id,
                    campaign_exclusions.c.contact_id == contact_id,
                )
            ).scalars()
        )


def _opt_out_story(
    engine: Engine, actor: Actor, make: Any, live: Any, phones: list[str], region: str, **kw: Any
) -> None:
    """Run the opt-out story: ``phones[0]`` replies ``kw["reply"]``, ``phones[1]`` stays."""
    body, reply, expect_in_confirmation = kw["body"], kw["reply"], kw["confirmation"]
    leaver, stayer = make.contacts(phones, region=region)
    make.route("sim")
    first = make.campaign(name="first", variants=[{"name": "A", "body": body}])

    async def story() -> Any:
        run = live()
        await run.start()
        try:
            # given a campaign that went out to both contacts through the SMSC
            launch(engine, actor, first)
            await run.until(lambda: _delivered(engine, first, 2))
            # and a second campaign queued for both (paused, so nothing is sent yet)
            second = make.campaign(name="second", variants=[{"name": "A", "body": body}])
            launch(engine, actor, second)
            with engine.begin() as conn:
                pause(conn, actor, second)
            # when the leaver replies twice (a repeated opt-out) through the SMSC
            run.sim.inject_mo(phones[0], "12345", reply)
            await run.until(lambda: run.handled(1))
            run.sim.inject_mo(phones[0], "12345", reply)
            await run.until(lambda: run.handled(2))
            # and the worker sends every reply queued meanwhile (the transactional lane)
            await run.until(lambda: len(run.texts_to(phones[0])) == 1 + _replies(engine, leaver))
            await run.until(lambda: _unsent_replies(engine, leaver) == 0)
            return second, run.texts_to(phones[0])
        finally:
            await run.stop()

    second, texts = asyncio.run(asyncio.wait_for(story(), 60))
    # then the leaver's queued marketing message was cancelled, the stayer's was not
    assert _status(engine, second, leaver) == "cancelled"
    assert _status(engine, second, stayer) == "queued"
    # and the ledger shows the reply as the proof of an SMS-keyword opt-out
    with engine.connect() as conn:
        history = consent_history(conn, actor.workspace_id, leaver)
        state = current_consent(conn, actor.workspace_id, leaver)
    out = [h for h in history if h["status"] == "opted_out"]
    assert [(h["source"], h["proof"], h["purpose"]) for h in out] == [
        ("sms_keyword", reply, "marketing")
    ]
    assert [(s["purpose"], s["status"]) for s in state] == [("marketing", "opted_out")]
    with engine.connect() as conn:
        got = conn.execute(sa.select(inbound_messages.c.source, inbound_messages.c.text)).all()
    assert [tuple(r) for r in got] == [("smpp", reply), ("smpp", reply)]
    # and exactly one confirmation was queued and went back through the SMSC
    assert _replies(engine, leaver) == 1
    assert len(texts) == 2 and expect_in_confirmation in texts[1]
    # when the next campaign is planned
    third = make.campaign(name="third", variants=[{"name": "A", "body": body}])
    launch(engine, actor, third)
    # then it excludes the leaver as "opted out" and includes the stayer
    assert _exclusion(engine, third, leaver) == ["opted_out"]
    assert _status(engine, third, leaver) is None
    assert _status(engine, third, stayer) == "queued"


def test_a_chinese_reply_退订_opts_out_at_once_and_the_next_campaign_excludes_them(
    engine: Engine, actor: Actor, make: Any, live: Any
) -> None:
    _opt_out_story(
        engine,
        actor,
        make,
        live,
        ["+8613800138000", "+8613900139000"],
        "CN",
        body=CN_BODY,
        reply="退订",
        confirmation="【Acme】您已退订",
    )


def test_an_english_stop_opts_out_at_once_and_the_next_campaign_excludes_them(
    engine: Engine, actor: Actor, make: Any, live: Any
) -> None:
    _opt_out_story(
        engine,
        actor,
        make,
        live,
        ["+12025550101", "+12025550102"],
        "US",
        body=US_BODY,
        reply="Stop",
        confirmation="You are unsubscribed",
    )


def test_double_opt_in_by_join_and_yes_makes_the_next_campaign_include_them(
    engine: Engine, actor: Actor, make: Any, live: Any
) -> None:
    # given a contact without consent, a JOIN keyword with double opt-in, and a brand
    (newbie,) = make.contacts(["+12025550111"], consent=None)
    make.route("sim")
    with engine.begin() as conn:
        add_keyword(conn, actor, KeywordIn(keyword="JOIN", action="join", language="en"))
        set_settings(conn, actor, {"brand": "Acme", "frequency": "Up to 4 msgs/month"})
    before = make.campaign(name="before", variants=[{"name": "A", "body": US_BODY}])
    launch(engine, actor, before)
    assert _exclusion(engine, before, newbie) == ["no_consent"]

    async def story() -> list[str]:
        run = live()
        await run.start()
        try:
            # when the contact texts JOIN
            run.sim.inject_mo("+12025550111", "12345", "join")
            await run.until(lambda: run.handled(1))
            # then a confirmation request goes back, and consent is pending, not active
            await run.until(lambda: len(run.texts_to("+12025550111")) == 1)
            with engine.connect() as conn:
                state = current_consent(conn, actor.workspace_id, newbie)
            assert [(s["purpose"], s["status"]) for s in state] == [("marketing", "pending")]
            # when the contact confirms with YES
            run.sim.inject_mo("+12025550111", "12345", "YES")
            await run.until(lambda: run.handled(2))
            await run.until(lambda: len(run.texts_to("+12025550111")) == 2)
            return list(run.texts_to("+12025550111"))
        finally:
            await run.stop()

    texts = asyncio.run(asyncio.wait_for(story(), 60))
    assert "Reply YES to confirm" in texts[0] and "Up to 4 msgs/month" in texts[0]
    assert "Msg & data rates may apply" in texts[0]
    assert "you are subscribed" in texts[1]
    # then consent is active, with the YES as proof
    with engine.connect() as conn:
        state = current_consent(conn, actor.workspace_id, newbie)
    assert [(s["purpose"], s["status"], s["source"]) for s in state] == [
        ("marketing", "opted_in", "sms_keyword")
    ]
    assert state[0]["proof"].startswith("YES")
    # and the next campaign includes the contact
    after = make.campaign(name="after", variants=[{"name": "A", "body": US_BODY}])
    launch(engine, actor, after)
    assert _exclusion(engine, after, newbie) == []
    assert _status(engine, after, newbie) == "queued"
