"""Feedback: a sentiment model checked on hand-labelled texts; one inbox for SMS and social."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.errors import ValidationFailed
from clarion.inbound.receive import InboundIn
from clarion.inbound.service import receive
from clarion.social.ingest import ingest
from clarion.social.sentiment import analyse
from clarion.social.service import list_feedback, set_feedback_status

from ._loop import account, activity, contact

#: Comments and replies of the kind a retailer gets, labelled by hand (not by either model).
LABELLED = [
    ("Love the new spring collection, ordered two already!", "positive"),
    ("Thanks, the delivery was super fast", "positive"),
    ("Great service at the Oxford Street store today", "positive"),
    ("Best coffee in town, hands down", "positive"),
    ("Amazing discount, thank you so much!!", "positive"),
    ("So happy with my order :)", "positive"),
    ("Your staff were really helpful and kind", "positive"),
    ("Following you now, excited for the sale", "positive"),
    ("My parcel arrived broken and nobody answers", "negative"),
    ("Worst customer service ever", "negative"),
    ("Stop texting me, this is spam", "negative"),
    ("The app keeps crashing, terrible update", "negative"),
    ("Still waiting for my refund, very disappointed", "negative"),
    ("This is a scam, do not buy", "negative"),
    ("Awful quality, the shirt fell apart after one wash", "negative"),
    ("I hate the new design", "negative"),
    ("What time do you open on Sunday?", "neutral"),
    ("Is the offer valid online too?", "neutral"),
    ("Order 4471", "neutral"),
    ("Which sizes are left in blue?", "neutral"),
    ("Do you ship to Canada", "neutral"),
    ("See you on Saturday at the store", "neutral"),
    ("这个产品很好，我很喜欢", "positive"),
    ("服务非常棒，谢谢你们", "positive"),
    ("质量不错，物流也快，满意", "positive"),
    ("太差了，非常失望", "negative"),
    ("客服态度恶劣，再也不买了", "negative"),
    ("收到的东西是坏的，要求退款", "negative"),
]


def test_the_sentiment_model_agrees_with_the_hand_labels() -> None:
    # given texts labelled by hand, in English and Chinese
    # when the model labels them
    got = [(analyse(text).label, label) for text, label in LABELLED]
    # then it agrees on at least 80%, and never calls a clearly negative text positive
    agree = sum(1 for g, want in got if g == want) / len(got)
    flipped = [
        t
        for (t, want), (g, _) in zip(LABELLED, got, strict=True)
        if {g, want} == {"positive", "negative"}
    ]
    assert agree >= 0.8, got
    assert flipped == []


def test_empty_text_is_neutral() -> None:
    assert analyse("").label == "neutral"
    assert analyse(None).score == 0.0


def test_sms_replies_and_social_comments_share_one_inbox(engine: Engine, actor: Actor) -> None:
    # given an SMS reply from a contact and a comment on Mastodon
    ws = actor.workspace_id
    cid = contact(engine, ws, "+14155550401")
    receive(
        engine,
        [InboundIn("+14155550401", "12345", "Thanks, great service today!")],
        workspace_id=ws,
    )
    acc = account(engine, ws)
    activity(
        engine, ws, acc, "comment", "gus@social.example", text="Terrible, my order never arrived"
    )
    ingest(engine)
    # when the inbox is listed
    with engine.connect() as conn:
        items = list_feedback(conn, ws)
        negative = list_feedback(conn, ws, sentiment="negative")
    # then both channels are there, each with its sentiment
    assert sorted((i["channel"], i["sentiment"]) for i in items) == [
        ("sms", "positive"),
        ("social", "negative"),
    ]
    assert [i["channel"] for i in negative] == ["social"]
    assert next(i for i in items if i["channel"] == "sms")["contact_id"] == cid
    # and a social comment can be closed
    social_id = negative[0]["id"]
    with engine.begin() as conn:
        set_feedback_status(conn, actor, social_id, "closed")
    with engine.connect() as conn:
        assert list_feedback(conn, ws, channel="social", status="open") == []


def test_bad_filters_are_named(engine: Engine, actor: Actor) -> None:
    with pytest.raises(ValidationFailed) as err, engine.connect() as conn:
        list_feedback(conn, actor.workspace_id, channel="fax")
    assert err.value.fields == {"field": "channel", "value": "fax"}
