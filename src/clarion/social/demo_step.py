"""The demo's social step: the demo campaign asks for a follow, and some recipients do.

There is no social platform to reach from a demo, so this step plays the part of the fetcher:
it stores, as ``social_activities`` rows of a demo Mastodon account, what a share of the
campaign's recipients did after the SMS arrived (follows, comments in English and Chinese,
shares), from the Mastodon handle the demo base gave them or, for those without one, a handle
given "at signup" now, plus a few strangers whose follows become social-only profiles. A second
run finds the demo account and adds nothing. Everything after that is the real path: the
ingest job turns the rows into events, graph edges and feedback with sentiment, and the
report's attribution credits the campaign's messages. Draws come from the demo seed, so a run
is reproducible.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from clarion.demo.base import DemoContext, StepResult

ACCOUNT = "acme-demo"
FOLLOW_SHARE = 0.06  # of delivered recipients who follow after the SMS
COMMENTS = [
    "Love this, just followed!",
    "Great offer, thanks for the heads up",
    "Can't wait for the sale :)",
    "What time does the store open?",
    "Is this valid online too?",
    "Delivery took two weeks last time, very disappointed",
    "Too many texts, annoying",
    "这个活动太棒了，已关注",
    "质量很好，支持！",
    "上次的快递太慢了，很失望",
]


def social_step(ctx: DemoContext) -> StepResult:
    """Store the recipients' social reactions, ingest them, and count what came of it."""
    from clarion.contacts.merge import insert_ignore
    from clarion.contacts.tables import contact_identities
    from clarion.delivery.tables import messages
    from clarion.social.accounts import add_account
    from clarion.social.ingest import ingest
    from clarion.social.promotion import set_social_goal
    from clarion.social.tables import social_accounts, social_activities, social_feedback

    campaign_id = (ctx.extras.get("campaign") or {}).get("campaign_id")
    if campaign_id is None:
        return StepResult("social", {"no campaign": 1})
    rng = random.Random(ctx.seed * 1_000_003 + 11)
    ws = ctx.actor.workspace_id
    with ctx.engine.connect() as conn:
        done = conn.execute(
            sa.select(social_accounts.c.id).where(
                social_accounts.c.workspace_id == ws, social_accounts.c.name == ACCOUNT
            )
        ).scalar()
    if done is not None:
        return StepResult("social", {"already in place": 1})
    with ctx.engine.begin() as conn:
        set_social_goal(conn, ctx.actor, int(campaign_id), ["follow", "comment", "share"])
        acc = add_account(
            conn,
            ctx.actor,
            ACCOUNT,
            "mastodon",
            {"base_url": "https://social.example", "access_token": "demo-not-a-secret"},
            handle="acme@social.example",
        )
        # Never polled: the demo has no instance to reach (and reaches nothing off this
        # machine); the account only names where the demo's activity "came from".
        conn.execute(
            social_accounts.update().where(social_accounts.c.id == acc["id"]).values(enabled=False)
        )
        delivered = conn.execute(
            sa.select(messages.c.contact_id, messages.c.delivered_at)
            .where(messages.c.campaign_id == campaign_id, messages.c.delivered_at.is_not(None))
            .order_by(messages.c.id)
        ).all()
        picked = [r for r in delivered if rng.random() < FOLLOW_SHARE]
        own = dict(
            conn.execute(
                sa.select(contact_identities.c.contact_id, contact_identities.c.value).where(
                    contact_identities.c.workspace_id == ws,
                    contact_identities.c.namespace == "mastodon",
                    contact_identities.c.contact_id.in_([r.contact_id for r in picked] or [0]),
                )
            ).all()
        )
        handle_of = {
            r.contact_id: str(own.get(r.contact_id) or f"fan{r.contact_id}@social.example")
            for r in picked
        }
        idents = [
            {
                "workspace_id": ws,
                "contact_id": cid,
                "namespace": "mastodon",
                "value": h,
                "verified": False,
                "created_at": ctx.now,
            }
            for cid, h in handle_of.items()
            if cid not in own
        ]
        if idents:
            conn.execute(insert_ignore(conn, contact_identities), idents)
        rows: list[dict[str, Any]] = []

        def add(kind: str, handle: str, at: Any, text: str | None = None) -> None:
            rows.append(
                {
                    "workspace_id": ws,
                    "account_id": acc["id"],
                    "platform": "mastodon",
                    "kind": kind,
                    "activity_id": f"demo-{len(rows) + 1}",
                    "author_id": f"u-{handle}",
                    "author_handle": handle,
                    "text": text,
                    "mentions": [],
                    "at": at,
                    "raw": {},
                    "fetched_at": at + timedelta(minutes=5),
                }
            )

        for r in picked:
            handle = handle_of[r.contact_id].lstrip("@")
            at = r.delivered_at + timedelta(minutes=rng.randint(2, 600))
            add("follow", handle, at)
            if rng.random() < 0.35:
                add("comment", handle, at + timedelta(minutes=3), rng.choice(COMMENTS))
            if rng.random() < 0.1:
                add("share", handle, at + timedelta(minutes=9))
        strangers = max(1, len(picked) // 10)  # their follows make social-only profiles
        for i in range(strangers):
            add("follow", f"stranger{i}@elsewhere.example", ctx.now + timedelta(hours=1))
        if rows:
            conn.execute(social_activities.insert(), rows)
    handled = 0
    while True:
        n = ingest(ctx.engine)
        handled += n
        if n == 0:
            break
    with ctx.engine.connect() as conn:
        moods = {
            str(r.sentiment): int(r.n)
            for r in conn.execute(
                sa.select(social_feedback.c.sentiment, sa.func.count().label("n"))
                .where(social_feedback.c.workspace_id == ws)
                .group_by(social_feedback.c.sentiment)
            )
        }
    kinds: dict[str, int] = {}
    for item in rows:
        kinds[item["kind"]] = kinds.get(item["kind"], 0) + 1
    counts = {
        "handles from the base": len(picked) - len(idents),
        "handles given at signup": len(idents),
        "social-only profiles": strangers,
        "activities ingested": handled,
    }
    counts.update({f"{k}s" if not k.endswith("s") else k: n for k, n in sorted(kinds.items())})
    counts.update({f"comments {k}": int(v) for k, v in sorted(moods.items())})
    return StepResult("social", counts)
