"""Handling MOs against the real database: replies, consent, inbox, retries, expiry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.campaigns.control import launch
from clarion.consent.service import consent_history, current_consent
from clarion.contacts.tables import contacts
from clarion.db.types import utcnow
from clarion.delivery.tables import messages
from clarion.events.tables import events
from clarion.inbound import inbox, jobs, optin, service
from clarion.inbound.receive import InboundIn
from clarion.inbound.settings import set_settings
from clarion.inbound.tables import inbound_messages
from clarion.sending.service import SendRequest, send_message
from clarion.workspaces.service import ensure_workspace

BODY = [{"name": "A", "body": "Acme: new spring styles are in. Reply STOP to opt out"}]


def _mo(engine: Engine, ws: int, sender: str, text: str, **kw: Any) -> dict[str, Any]:
    done = service.receive(engine, [InboundIn(sender, "12345", text, **kw)], workspace_id=ws)
    assert len(done) == 1
    return done[0]


def _replies(engine: Engine, contact_id: int) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(messages.c.body)
                .where(messages.c.contact_id == contact_id, messages.c.kind == "transactional")
                .order_by(messages.c.id)
            ).scalars()
        )


def _state(engine: Engine, ws: int, contact_id: int) -> dict[str, str]:
    with engine.connect() as conn:
        return {
            f"{s['channel']}/{s['purpose']}": s["status"]
            for s in current_consent(conn, ws, contact_id)
        }


@pytest.fixture
def brand(engine: Engine, actor: Actor, make: Any) -> None:
    """Reply settings, and a route for the replies to go out on."""
    make.route("sim")
    with engine.begin() as conn:
        set_settings(
            conn,
            actor,
            {
                "brand": "Acme",
                "support": "https://acme.example/help",
                "frequency": "Up to 4 msgs/month",
            },
        )


def test_help_replies_carry_what_ctia_asks_in_the_contacts_language_and_jurisdiction(
    engine: Engine, actor: Actor, make: Any, brand: None
) -> None:
    us, cn, fr = (
        make.contacts(["+12025550131"])
        + make.contacts(["+8613800138001"], region="CN")
        + make.contacts(["+33612345678"], region="FR")
    )
    ws = actor.workspace_id
    # when each texts HELP in their language
    us_help = _mo(engine, ws, "12025550131", "help")
    assert (us_help["intent"], us_help["help_check"]) == ("help", [])  # CTIA parts all there
    assert _mo(engine, ws, "8613800138001", "帮助")["intent"] == "help"
    assert _mo(engine, ws, "33612345678", "AIDE")["intent"] == "help"
    # then the US reply names brand, support, frequency, rates and how to stop
    (us_text,) = _replies(engine, us)
    for part in (
        "Acme",
        "https://acme.example/help",
        "Up to 4 msgs/month",
        "Msg & data rates may apply",
    ):
        assert part in us_text
    assert "Reply STOP to stop" in us_text
    # and the Chinese one is signed in 【】 and says 回T退订
    (cn_text,) = _replies(engine, cn)
    assert (
        cn_text.startswith("【Acme】") and "回T退订" in cn_text and "acme.example/help" in cn_text
    )
    # and the French one is in French
    (fr_text,) = _replies(engine, fr)
    assert "Aide" in fr_text and "Répondez STOP" in fr_text


def test_a_natural_language_opt_out_is_honoured_and_an_ordinary_reply_goes_to_the_inbox(
    engine: Engine, actor: Actor, make: Any, brand: None
) -> None:
    leaver, fan = make.contacts(["+12025550132", "+12025550133"])
    ws = actor.workspace_id
    # when one says "please stop texting me" and the other "don't stop the deals coming"
    out = _mo(engine, ws, "+12025550132", "Please stop texting me!")
    kept = _mo(engine, ws, "+12025550133", "don't stop the deals coming")
    # then the first is opted out with their words as proof, and told so once
    assert (out["intent"], out["keyword"]) == ("opt_out", "stop texting")
    assert _state(engine, ws, leaver) == {"sms/marketing": "opted_out"}
    with engine.connect() as conn:
        assert consent_history(conn, ws, leaver)[-1]["proof"] == "Please stop texting me!"
    assert len(_replies(engine, leaver)) == 1
    # and the second keeps consent, gets no automatic reply, and is in the inbox
    assert kept["intent"] == "reply" and _state(engine, ws, fan) == {"sms/marketing": "opted_in"}
    assert _replies(engine, fan) == []
    with engine.connect() as conn:
        convs = inbox.list_conversations(conn, ws)
    assert [(c["contact_id"], c["last_text"], c["unread"]) for c in convs] == [
        (fan, "don't stop the deals coming", 1)
    ]


def test_a_reply_is_tied_to_the_campaign_that_prompted_it_and_counted_as_engagement(
    engine: Engine, actor: Actor, make: Any
) -> None:
    # given a campaign message submitted to the contact
    (cid,) = make.contacts(["+12025550134"])
    make.route("sim")
    camp = make.campaign(variants=BODY)
    launch(engine, actor, camp)
    with engine.begin() as conn:
        conn.execute(
            messages.update()
            .where(messages.c.campaign_id == camp)
            .values(status="delivered", submitted_at=utcnow() - timedelta(minutes=5))
        )
        msg_id = conn.execute(
            sa.select(messages.c.id).where(messages.c.campaign_id == camp)
        ).scalar_one()
    # when the contact answers with a question
    got = _mo(engine, actor.workspace_id, "+12025550134", "Do you have it in blue?")
    # then the conversation and the inbound row point at the campaign and the message
    with engine.connect() as conn:
        conv = inbox.get_conversation(conn, actor.workspace_id, got["conversation"])
        row = conn.execute(sa.select(inbound_messages)).mappings().one()
        ev = conn.execute(sa.select(events).where(events.c.name == "sms_reply")).mappings().one()
    assert conv["campaign_id"] == camp and conv["messages"][0]["message_id"] == msg_id
    assert (row["campaign_id"], row["prompt_message_id"], row["intent"]) == (camp, msg_id, "reply")
    # and an sms_reply event was recorded for the contact
    assert ev["contact_id"] == cid and ev["properties"]["campaign_id"] == camp
    # when an agent answers
    with engine.begin() as conn:
        sent = inbox.answer(conn, actor, got["conversation"], "Yes! Blue is in stock.")
    # then it is queued as a transactional message from the number they wrote to, and filed
    assert sent["sent"] is True
    with engine.connect() as conn:
        out = conn.execute(sa.select(messages).where(messages.c.id == sent["message_id"])).one()
        conv = inbox.get_conversation(conn, actor.workspace_id, got["conversation"])
    assert (out.kind, out.body, out.contact_id) == ("transactional", "Yes! Blue is in stock.", cid)
    assert [(m["direction"], m["author"]) for m in conv["messages"]] == [
        ("in", None),
        ("out", "cli:tester"),
    ]
    assert conv["unread"] == 0


def test_stopall_revokes_transactional_too_but_cancels_only_queued_marketing(
    engine: Engine, actor: Actor, make: Any
) -> None:
    # given a queued campaign message and a queued transactional message for the contact
    (cid,) = make.contacts(["+12025550135"])
    make.route("sim")
    camp = make.campaign(variants=BODY)
    launch(engine, actor, camp)
    with engine.begin() as conn:
        receipt = send_message(
            conn, actor, SendRequest(contact_id=cid, text="Acme: your order #1 has shipped")
        )
    # when the contact texts STOPALL
    _mo(engine, actor.workspace_id, "+12025550135", "STOPALL")
    # then both purposes are opted out
    assert _state(engine, actor.workspace_id, cid) == {
        "sms/marketing": "opted_out",
        "sms/transactional": "opted_out",
    }
    # and the marketing message is cancelled while the transactional one stays queued
    with engine.connect() as conn:
        status = dict(
            conn.execute(
                sa.select(messages.c.id, messages.c.status).where(messages.c.contact_id == cid)
            ).all()
        )
        camp_msg = conn.execute(
            sa.select(messages.c.id).where(messages.c.campaign_id == camp)
        ).scalar_one()
    assert status[camp_msg] == "cancelled"
    assert status[receipt["id"]] == "queued"


def test_an_unknown_number_becomes_a_contact_whose_opt_out_is_on_record(
    engine: Engine, actor: Actor, brand: None
) -> None:
    # when a number we have never seen texts STOP
    got = _mo(engine, actor.workspace_id, "447911123456", "STOP")
    # then a contact exists for it, opted out of marketing texts
    with engine.connect() as conn:
        cid = conn.execute(
            sa.select(contacts.c.id).where(contacts.c.phone == "+447911123456")
        ).scalar_one()
    assert got["opted_out"] == ["marketing"]
    assert _state(engine, actor.workspace_id, cid) == {"sms/marketing": "opted_out"}


def test_a_message_that_fails_to_be_handled_is_kept_and_handled_by_the_retry_job(
    engine: Engine, actor: Actor, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    make.contacts(["+12025550136"])
    calls = {"n": 0}
    real = inbox.add_inbound

    def flaky(*args: Any, **kwargs: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database hiccup")
        return real(*args, **kwargs)

    monkeypatch.setattr(inbox, "add_inbound", flaky)
    old = utcnow() - timedelta(minutes=5)
    # when handling fails the first time
    done = service.receive(
        engine,
        [InboundIn("+12025550136", "12345", "hello?", old)],
        workspace_id=actor.workspace_id,
    )
    # then nothing was done, but the message is stored as received
    assert done == []
    with engine.connect() as conn:
        assert conn.execute(sa.select(inbound_messages.c.status)).scalar_one() == "received"
        assert inbox.list_conversations(conn, actor.workspace_id) == []
    # when the retry job runs
    assert jobs.retry_unhandled(engine, "w1") == 1
    # then it is handled once, and a second run finds nothing to do
    assert jobs.retry_unhandled(engine, "w1") == 0
    with engine.connect() as conn:
        assert conn.execute(sa.select(inbound_messages.c.status)).scalar_one() == "handled"
        assert len(inbox.list_conversations(conn, actor.workspace_id)) == 1


def test_an_expired_double_opt_in_cannot_be_confirmed(
    engine: Engine, actor: Actor, brand: None
) -> None:
    # given a web signup waiting for its YES
    with engine.begin() as conn:
        got = optin.signup(conn, actor, "+12025550137", statement="Sign me up for Acme texts")
    cid = got["contact_id"]
    assert got["status"] == "pending" and got["reply"]["sent"] is True
    assert "Reply YES to confirm" in _replies(engine, cid)[0]
    assert _state(engine, actor.workspace_id, cid) == {"sms/marketing": "pending"}
    # when the request expires (the periodic job, 49 hours later)
    with engine.begin() as conn:
        assert optin.expire_due(conn, utcnow() + timedelta(hours=49)) == 1
        assert optin.expire_due(conn, utcnow() + timedelta(hours=49)) == 0
    # and YES arrives after that
    late = _mo(
        engine,
        actor.workspace_id,
        "+12025550137",
        "YES",
        received_at=utcnow() + timedelta(hours=50),
    )
    # then it is an ordinary reply and consent stays pending
    assert late["intent"] == "reply"
    assert _state(engine, actor.workspace_id, cid) == {"sms/marketing": "pending"}


def test_yes_resubscribes_someone_who_opted_out_and_start_always_does(
    engine: Engine, actor: Actor, make: Any, brand: None
) -> None:
    (cid,) = make.contacts(["+12025550138"])
    ws = actor.workspace_id
    _mo(engine, ws, "+12025550138", "STOP")
    assert _mo(engine, ws, "+12025550138", "yes")["intent"] == "opt_in"
    assert _state(engine, ws, cid) == {"sms/marketing": "opted_in"}
    _mo(engine, ws, "+12025550138", "STOP")
    assert _mo(engine, ws, "+12025550138", "UNSTOP")["intent"] == "opt_in"
    assert _state(engine, ws, cid) == {"sms/marketing": "opted_in"}
    # and every change has the reply as proof
    with engine.connect() as conn:
        proofs = [h["proof"] for h in consent_history(conn, ws, cid)][1:]
    assert proofs == ["STOP", "yes", "STOP", "UNSTOP"]


def test_an_mo_no_workspace_claims_is_kept_unrouted(engine: Engine, actor: Actor) -> None:
    # given two workspaces and a connector neither uses
    with engine.begin() as conn:
        ensure_workspace(conn, "other")
    # when an MO comes through it
    done = service.receive(engine, [InboundIn("+12025550139", "999", "STOP", connector="ghost")])
    # then it is stored, unrouted, and nothing else happened
    assert done == []
    with engine.connect() as conn:
        row = conn.execute(sa.select(inbound_messages)).mappings().one()
    assert (row["status"], row["workspace_id"], row["text"]) == ("unrouted", None, "STOP")


def test_automatic_replies_stop_when_another_machine_keeps_answering(
    engine: Engine, actor: Actor, make: Any, brand: None
) -> None:
    # given an auto-responder that texts HELP back seven times within the hour
    (cid,) = make.contacts(["+12025550144"])
    results = [_mo(engine, actor.workspace_id, "+12025550144", "HELP") for _ in range(7)]
    # then only the first five got an answer, and the rest are marked as held back
    assert len(_replies(engine, cid)) == service.MAX_AUTO_REPLIES_PER_HOUR == 5
    assert [r["reply"].get("error") for r in results[5:]] == ["reply_limit", "reply_limit"]


def test_a_help_reply_without_a_support_contact_is_flagged(
    engine: Engine, actor: Actor, make: Any
) -> None:
    # given a workspace that never set a support contact
    make.route("sim")
    make.contacts(["+12025550145"])
    # when someone texts HELP
    got = _mo(engine, actor.workspace_id, "+12025550145", "HELP")
    # then the reply still goes, and what CTIA asks for and is missing is on record
    assert got["reply"]["sent"] is True
    assert got["help_check"] == ["help_contact_missing"]


def test_two_workers_handling_the_same_messages_act_once(
    engine: Engine, actor: Actor, make: Any, brand: None
) -> None:
    import threading

    from clarion.inbound.receive import store

    # given ten stored STOPs from ten contacts, not yet handled
    phones = [f"+1202555016{i}" for i in range(10)]
    ids = make.contacts(phones)
    with engine.begin() as conn:
        stored = store(
            conn, [InboundIn(p, "12345", "STOP") for p in phones], workspace_id=actor.workspace_id
        )
    # when two workers handle the same rows at the same time
    results: list[list[dict[str, Any]]] = []
    gate = threading.Barrier(2)

    def work() -> None:
        gate.wait()
        results.append(service.handle_pending(engine, stored))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # then each message was handled exactly once, with one ledger entry and one confirmation
    assert sorted(r["id"] for part in results for r in part) == sorted(stored)
    for cid in ids:
        assert len(_replies(engine, cid)) == 1
        with engine.connect() as conn:
            assert [h["status"] for h in consent_history(conn, actor.workspace_id, cid)] == [
                "opted_in",
                "opted_out",
            ]


def test_a_provider_callback_mo_is_labelled_http_and_handled(
    engine: Engine, actor: Actor, make: Any, brand: None
) -> None:
    from datetime import UTC, datetime

    from clarion.channels.base import Inbound

    (cid,) = make.contacts(["+12025550146"])
    # when an HTTP provider's callback hands the MO to the registered handler
    jobs.on_inbound(
        engine,
        actor.workspace_id,
        [Inbound("+12025550146", "12345", "STOP", datetime.now(UTC), connector="http-main")],
    )
    # then it is stored as an HTTP MO and acted on
    with engine.connect() as conn:
        row = conn.execute(sa.select(inbound_messages)).mappings().one()
    assert (row["source"], row["status"], row["intent"]) == ("http", "handled", "opt_out")
    assert _state(engine, actor.workspace_id, cid) == {"sms/marketing": "opted_out"}
