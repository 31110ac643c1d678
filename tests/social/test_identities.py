"""Social identities: linking handles to contacts by signup, code and hand; conflicts refused."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.contacts.tables import contacts
from clarion.errors import Conflict, NotFound, ValidationFailed
from clarion.events.tables import events
from clarion.social import identities as ids
from clarion.social.ingest import ingest
from clarion.social.tables import social_link_codes

from ._loop import account, activity, contact


def test_a_manual_link_is_verified_and_listed(engine: Engine, actor: Actor) -> None:
    # given a contact
    cid = contact(engine, actor.workspace_id, "+14155550101")
    # when a handle is linked by hand (with a leading @ and capitals)
    with engine.begin() as conn:
        out = ids.link(conn, actor, cid, "mastodon", "@Alice@Social.Example")
        listed = ids.list_identities(conn, actor.workspace_id, contact_id=cid)
    # then the handle is stored normalised and verified
    assert out["handle"] == "alice@social.example"
    assert [(r["platform"], r["handle"], r["verified"]) for r in listed] == [
        ("mastodon", "alice@social.example", True)
    ]


def test_a_handle_linked_to_another_contact_is_refused(engine: Engine, actor: Actor) -> None:
    # given a handle linked to one contact
    a = contact(engine, actor.workspace_id, "+14155550102")
    b = contact(engine, actor.workspace_id, "+14155550103")
    with engine.begin() as conn:
        ids.link(conn, actor, a, "x", "bob", method="signup")
    # when someone links the same handle to another contact
    with pytest.raises(Conflict) as err, engine.begin() as conn:
        ids.link(conn, actor, b, "x", "@BOB")
    # then the error names the handle and the contact that holds it
    assert err.value.fields["contact_id"] == a
    assert "@bob" in err.value.message


def test_bad_platform_and_handle_are_named(engine: Engine, actor: Actor) -> None:
    cid = contact(engine, actor.workspace_id, "+14155550104")
    with pytest.raises(ValidationFailed) as err, engine.begin() as conn:
        ids.link(conn, actor, cid, "myspace", "tom")
    assert err.value.fields == {"field": "platform", "value": "myspace"}
    with pytest.raises(ValidationFailed) as err, engine.begin() as conn:
        ids.link(conn, actor, cid, "x", "two words")
    assert err.value.fields["field"] == "handle"
    with pytest.raises(NotFound), engine.begin() as conn:
        ids.unlink(conn, actor, "x", "nobody")


def test_an_unknown_author_becomes_a_social_only_profile_then_folds_into_the_contact(
    engine: Engine, actor: Actor
) -> None:
    # given an unknown author whose follow was ingested
    ws = actor.workspace_id
    acc = account(engine, ws)
    activity(engine, ws, acc, "follow", "carol@social.example")
    ingest(engine)
    with engine.connect() as conn:
        (profile,) = conn.execute(
            sa.select(contacts.c.id, contacts.c.phone, contacts.c.attributes).where(
                contacts.c.source == "social", contacts.c.workspace_id == ws
            )
        ).all()
    assert profile.phone is None and profile.attributes["social_only"] is True
    # when the handle is linked to a real contact
    real = contact(engine, ws, "+14155550105")
    with engine.begin() as conn:
        ids.link(conn, actor, real, "mastodon", "carol@social.example")
    # then the profile is gone and its follow event belongs to the contact
    with engine.connect() as conn:
        assert (
            conn.execute(sa.select(contacts.c.id).where(contacts.c.id == profile.id)).first()
            is None
        )
        owners = (
            conn.execute(sa.select(events.c.contact_id).where(events.c.name == "social_follow"))
            .scalars()
            .all()
        )
    assert owners == [real]


def test_a_code_sent_by_sms_and_posted_back_links_the_author(engine: Engine, actor: Actor) -> None:
    # given a code for a contact (not texted here; the e2e test texts it)
    ws = actor.workspace_id
    cid = contact(engine, ws, "+14155550106")
    with engine.begin() as conn:
        code = ids.request_code(conn, actor, cid, platform="bluesky", send=False)["code"]
    # when a mention on Bluesky carries the code (lower case, without the dash)
    acc = account(engine, ws, "bluesky")
    written = code.replace("-", "").lower()
    activity(
        engine,
        ws,
        acc,
        "mention",
        "dave.bsky.social",
        platform="bluesky",
        author_id="did:plc:dave",
        text=f"@acme linking {written} please",
    )
    ingest(engine)
    # then the author is linked, verified, with the user id, and the code is used
    with engine.connect() as conn:
        listed = ids.list_identities(conn, ws, contact_id=cid)
        status = conn.execute(sa.select(social_link_codes.c.status)).scalar_one()
        mention_owner = conn.execute(
            sa.select(events.c.contact_id).where(events.c.name == "social_mention")
        ).scalar_one()
        by_id = ids.resolve(conn, ws, [ids.Author("bluesky", "renamed", "did:plc:dave")])
    assert [(r["handle"], r["verified"]) for r in listed] == [("dave.bsky.social", True)]
    assert status == "used"
    assert mention_owner == cid
    assert list(by_id.values()) == [cid]  # a renamed handle still finds the contact


def test_a_code_posted_on_another_platform_than_asked_does_not_link(
    engine: Engine, actor: Actor
) -> None:
    ws = actor.workspace_id
    cid = contact(engine, ws, "+14155550107")
    with engine.begin() as conn:
        code = ids.request_code(conn, actor, cid, platform="weibo", send=False)["code"]
    acc = account(engine, ws, "x")
    activity(engine, ws, acc, "mention", "erin", platform="x", text=code)
    ingest(engine)
    with engine.connect() as conn:
        assert ids.list_identities(conn, ws, contact_id=cid) == []
        assert conn.execute(sa.select(social_link_codes.c.status)).scalar_one() == "pending"


def test_a_handle_imported_with_its_at_sign_finds_its_contact(engine: Engine, actor: Actor) -> None:
    # given a contact whose import said identity:mastodon = "@ann@mastodon.example"
    from clarion.contacts.tables import contact_identities
    from clarion.db.types import utcnow

    ws = actor.workspace_id
    cid = contact(engine, ws, "+14155550108")
    with engine.begin() as conn:
        conn.execute(
            contact_identities.insert().values(
                workspace_id=ws,
                contact_id=cid,
                namespace="mastodon",
                value="@ann@mastodon.example",
                verified=False,
                created_at=utcnow(),
            )
        )
    # when Ann follows
    acc = account(engine, ws)
    activity(engine, ws, acc, "follow", "ann@mastodon.example")
    ingest(engine)
    # then the follow is hers (no social-only profile), and nobody else can take the handle
    with engine.connect() as conn:
        owner = conn.execute(sa.select(events.c.contact_id)).scalar_one()
    assert owner == cid
    other = contact(engine, ws, "+14155550109")
    with pytest.raises(Conflict), engine.begin() as conn:
        ids.link(conn, actor, other, "mastodon", "ann@mastodon.example")


def test_the_api_links_refuses_a_taken_handle_and_lists_feedback(
    engine: Engine, actor: Actor, api_client: Any
) -> None:
    # given two contacts and a key that may write contacts and read messages
    from clarion.workspaces.service import create_api_key

    ws = actor.workspace_id
    a = contact(engine, ws, "+14155550110")
    b = contact(engine, ws, "+14155550111")
    with engine.begin() as conn:
        key = create_api_key(
            conn, actor, "t", ["contacts:write", "contacts:read", "messages:read"]
        )[1]
    auth = {"Authorization": f"Bearer {key}"}
    # when a handle is linked, then linked again to another contact
    first = api_client.post(
        "/v1/social/identities",
        headers=auth,
        json={"contact_id": a, "platform": "x", "handle": "@Zoe"},
    )
    second = api_client.post(
        "/v1/social/identities",
        headers=auth,
        json={"contact_id": b, "platform": "x", "handle": "zoe"},
    )
    bad = api_client.post(
        "/v1/social/identities",
        headers=auth,
        json={"contact_id": b, "platform": "x", "handle": "zoe", "method": "code"},
    )
    # then the first is created, the second refused naming the holder, the method checked
    assert first.status_code == 201 and first.json()["handle"] == "zoe"
    assert second.status_code == 409
    assert second.json()["error"]["fields"]["contact_id"] == a
    assert bad.status_code == 422 and bad.json()["error"]["fields"]["field"] == "method"
    listed = api_client.get("/v1/social/identities", headers=auth, params={"platform": "x"})
    assert [(r["contact_id"], r["handle"]) for r in listed.json()] == [(a, "zoe")]
    # and the feedback inbox answers (empty) with a bad filter named
    assert api_client.get("/v1/social/feedback", headers=auth).json() == []
    wrong = api_client.get("/v1/social/feedback", headers=auth, params={"sentiment": "meh"})
    assert wrong.status_code == 422 and wrong.json()["error"]["fields"]["field"] == "sentiment"


def test_an_expired_code_links_nobody_and_the_job_marks_it_expired(
    engine: Engine, actor: Actor
) -> None:
    # given a code created eight days ago
    from datetime import timedelta

    from clarion.db.types import utcnow
    from clarion.social.jobs import ingest_job

    ws = actor.workspace_id
    cid = contact(engine, ws, "+14155550112")
    with engine.begin() as conn:
        code = ids.request_code(conn, actor, cid, send=False, now=utcnow() - timedelta(days=8))[
            "code"
        ]
    # when it is posted and the worker's job runs
    acc = account(engine, ws)
    activity(engine, ws, acc, "mention", "late@social.example", text=f"my code {code}")
    assert ids.codes_due(engine)
    ingest_job(engine, "w1")
    # then nobody is linked to the contact and the code is expired
    with engine.connect() as conn:
        assert ids.list_identities(conn, ws, contact_id=cid) == []
        assert conn.execute(sa.select(social_link_codes.c.status)).scalar_one() == "expired"
    assert not ids.codes_due(engine)
