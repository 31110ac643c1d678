"""Ingest: fetched activity becomes events, graph edges and feedback, once, past a safe cursor."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.db.types import utcnow
from clarion.events.tables import events
from clarion.intelligence.tables import contact_interactions
from clarion.social import identities as ids
from clarion.social.ingest import ingest
from clarion.social.tables import social_activities, social_feedback

from ._loop import account, activity, contact


def _events(engine: Engine) -> list[tuple[str, int, dict[str, object]]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(events.c.name, events.c.contact_id, events.c.properties).order_by(events.c.id)
        ).all()
    return [(r.name, r.contact_id, r.properties) for r in rows]


def test_each_activity_becomes_one_event_on_its_authors_contact(
    engine: Engine, actor: Actor
) -> None:
    # given a linked contact who follows and comments
    ws = actor.workspace_id
    cid = contact(engine, ws, "+14155550201")
    with engine.begin() as conn:
        ids.link(conn, actor, cid, "mastodon", "ann@social.example", method="signup")
    acc = account(engine, ws)
    activity(engine, ws, acc, "follow", "@Ann@social.example")
    activity(engine, ws, acc, "comment", "ann@social.example", text="Love the new range!")
    # when the job runs twice
    assert ingest(engine) == 2
    assert ingest(engine) == 0
    # then two events on the contact, with platform and text, and nothing twice
    got = _events(engine)
    assert [(n, c) for n, c, _ in got] == [("social_follow", cid), ("social_comment", cid)]
    assert got[1][2]["platform"] == "mastodon"
    assert got[1][2]["text"] == "Love the new range!"


def test_mentions_shares_and_replies_between_known_contacts_become_graph_edges(
    engine: Engine, actor: Actor
) -> None:
    # given three linked contacts on X
    ws = actor.workspace_id
    a, b, c = (contact(engine, ws, f"+1415555030{i}") for i in range(3))
    with engine.begin() as conn:
        for cid, handle in ((a, "amy"), (b, "ben"), (c, "cat")):
            ids.link(conn, actor, cid, "x", handle)
    acc = account(engine, ws, "x")
    # when amy mentions ben and a stranger, ben shares mentioning cat, cat replies to amy
    activity(
        engine,
        ws,
        acc,
        "mention",
        "amy",
        platform="x",
        text="@acme @ben @zed look",
        mentions=("acme", "ben", "zed"),
        activity_id="m1",
    )
    activity(engine, ws, acc, "share", "ben", platform="x", mentions=("@cat",))
    activity(engine, ws, acc, "reply", "cat", platform="x", text="agreed", in_reply_to="m1")
    ingest(engine)
    # then the graph holds exactly those edges between known contacts
    with engine.connect() as conn:
        edges = conn.execute(
            sa.select(
                contact_interactions.c.source_contact_id,
                contact_interactions.c.target_contact_id,
                contact_interactions.c.kind,
            ).order_by(contact_interactions.c.id)
        ).all()
    assert sorted(tuple(e) for e in edges) == sorted(
        [(a, b, "mention"), (b, c, "share"), (c, a, "mention")]
    )


def test_comments_are_filed_as_feedback_with_a_sentiment(engine: Engine, actor: Actor) -> None:
    ws = actor.workspace_id
    acc = account(engine, ws, "weibo")
    activity(engine, ws, acc, "comment", "fan1", platform="weibo", text="质量太差了，很失望")
    activity(engine, ws, acc, "reply", "fan2", platform="weibo", text="Absolutely love it!")
    activity(engine, ws, acc, "like", "fan3", platform="weibo")
    ingest(engine)
    with engine.connect() as conn:
        got = conn.execute(
            sa.select(social_feedback.c.kind, social_feedback.c.sentiment).order_by(
                social_feedback.c.id
            )
        ).all()
    assert [tuple(r) for r in got] == [("comment", "negative"), ("reply", "positive")]


def test_the_cursor_waits_at_a_fresh_gap_and_passes_it_once_the_grace_is_over(
    engine: Engine, actor: Actor
) -> None:
    # given three rows just fetched, the middle one's transaction not (yet) visible
    ws = actor.workspace_id
    acc = account(engine, ws)
    now = utcnow()
    first = activity(engine, ws, acc, "follow", "p1", fetched_at=now)
    middle = activity(engine, ws, acc, "follow", "p2", fetched_at=now)
    activity(engine, ws, acc, "follow", "p3", fetched_at=now)
    with engine.begin() as conn:
        conn.execute(social_activities.delete().where(social_activities.c.id == middle))
    # when the job runs now: only the row before the gap is taken
    assert ingest(engine, now=now) == 1
    assert len(_events(engine)) == 1
    # then, once the gap is older than the grace, the rest follows, and nothing is doubled
    later = now + timedelta(seconds=31)
    assert ingest(engine, now=later) == 1
    assert ingest(engine, now=later) == 0
    assert len(_events(engine)) == 2
    assert first < middle


def test_one_stranger_seen_twice_in_a_batch_gets_one_profile(engine: Engine, actor: Actor) -> None:
    # given two activities by the same unknown handle, shown with different display names
    from clarion.contacts.tables import contacts

    ws = actor.workspace_id
    acc = account(engine, ws)
    activity(engine, ws, acc, "follow", "Newbie@social.example")
    activity(engine, ws, acc, "like", "newbie@social.example")
    with engine.begin() as conn:
        conn.execute(
            social_activities.update()
            .where(social_activities.c.kind == "like")
            .values(author_name="Someone Else")
        )
    # when ingested
    ingest(engine)
    # then one social-only profile holds both events
    with engine.connect() as conn:
        profiles = conn.execute(
            sa.select(contacts.c.id, contacts.c.external_id).where(contacts.c.source == "social")
        ).all()
        owners = set(conn.execute(sa.select(events.c.contact_id)).scalars())
    assert [p.external_id for p in profiles] == ["social:mastodon:newbie@social.example"]
    assert owners == {profiles[0].id}
