"""Turn fetched social activity into events, links, graph edges and feedback, by a cursor.

Adapters store what they fetch in ``social_activities`` (socialpub's fetcher); this job reads
that table past a cursor, so fetching never waits on contacts, events or sentiment. For each
activity, in one transaction per batch:

1. a link code in the text (``CL-XXXXXX``) links its author to the contact the code was texted
   to (see :mod:`clarion.social.identities`);
2. the author is resolved to a contact (by platform user id, then handle); an unknown author
   becomes a social-only profile;
3. an event ``social_<kind>`` goes on the author's contact (``message_id`` ``social:<row id>``,
   so a re-read adds nothing), with platform, account, post and text properties; an SMS
   campaign that lists it as a goal event gets it attributed (:mod:`clarion.tracking.attribution`);
4. mentions, shares and replies between two known contacts become edges of the interaction graph
   (``contact_interactions``) that the social influence trait reads;
5. comments and replies go to the feedback inbox with a sentiment label.

Sequence gaps: on PostgreSQL ids are handed out before commit, so a fetch that commits later
may hold a smaller id than one already read. The cursor moves only over contiguous ids, or ids
fetched more than ``GAP_GRACE`` ago (a fetch transaction that old has committed or rolled
back); rows past a gap wait for the next pass. The cursor row is locked for the pass
(``FOR UPDATE``; SQLite's single writer does the same), so two workers never ingest at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.db.engine import read_only
from clarion.db.sql import in_values
from clarion.db.types import utcnow
from clarion.errors import ValidationFailed
from clarion.events.models import ContactRef, TrackIn
from clarion.events.service import track
from clarion.intelligence.influence import record_interactions
from clarion.social import identities as ids
from clarion.social.sentiment import analyse
from clarion.social.tables import social_activities, social_feedback, social_ingest_cursor

CURSOR = "social_activities"
BATCH = 2000
GAP_GRACE = timedelta(seconds=30)
FEEDBACK_KINDS = ("comment", "reply")
#: Activity kind -> interaction-graph kind (the influence model knows mention, share, referral).
GRAPH_KINDS = {"mention": "mention", "reply": "mention", "comment": "mention", "share": "share"}
WORKER = "social-ingest"


def event_name(kind: str) -> str:
    """Return the event an activity of ``kind`` becomes, e.g. ``social_follow``."""
    return f"social_{kind}"


def advance(last_id: int, rows: Sequence[tuple[int, datetime]], now: datetime) -> int:
    """Return how far the cursor may move over ``rows`` (id, fetched_at) read past ``last_id``."""
    horizon = now - GAP_GRACE
    for rid, at in rows:
        if rid != last_id + 1 and at > horizon:
            break
        last_id = rid
    return last_id


def _insert_ignore(conn: sa.Connection, table: sa.Table) -> Any:
    mod = postgresql if conn.dialect.name == "postgresql" else sqlite
    return mod.insert(table).on_conflict_do_nothing()


def _lock_cursor(conn: sa.Connection, now: datetime) -> int:
    t = social_ingest_cursor
    q = sa.select(t.c.last_id).where(t.c.name == CURSOR)
    found = conn.execute(q.with_for_update()).scalar()
    if found is not None:
        return int(found)
    conn.execute(_insert_ignore(conn, t).values(name=CURSOR, last_id=0, updated_at=now))
    return int(conn.execute(q.with_for_update()).scalar_one())


def _author(row: Any) -> ids.Author:
    try:
        handle = ids.normalise_handle(row.author_handle)
    except ValidationFailed:  # a platform's odd handle: keep it, lower-cased and trimmed
        handle = (row.author_handle or row.author_id).strip().lstrip("@").lower()[:200]
    return ids.Author(row.platform, handle, row.author_id or None, row.author_name)


def _mentioned(row: Any) -> list[ids.Author]:
    out = []
    for m in row.mentions or []:
        try:
            out.append(ids.Author(row.platform, ids.normalise_handle(str(m))))
        except ValidationFailed:
            continue
    return out


def ingest(engine: Engine, *, batch: int = BATCH, now: datetime | None = None) -> int:
    """Ingest activity past the cursor; return how many activities were handled."""
    now = now or utcnow()
    # Look before locking: on SQLite the locking transaction takes the write lock.
    with read_only(engine) as conn:
        newest = conn.execute(sa.select(sa.func.max(social_activities.c.id))).scalar()
        seen_to = conn.execute(
            sa.select(social_ingest_cursor.c.last_id).where(social_ingest_cursor.c.name == CURSOR)
        ).scalar()
    if newest is None or (seen_to is not None and int(newest) <= int(seen_to)):
        return 0
    with engine.begin() as conn:
        last = _lock_cursor(conn, now)
        a = social_activities
        rows = conn.execute(sa.select(a).where(a.c.id > last).order_by(a.c.id).limit(batch)).all()
        upto = advance(last, [(r.id, r.fetched_at) for r in rows], now)
        ready = [r for r in rows if r.id <= upto]
        by_ws: dict[int, list[Any]] = defaultdict(list)
        for r in ready:
            by_ws[int(r.workspace_id)].append(r)
        for ws, ws_rows in by_ws.items():
            handle_rows(conn, Actor.system(ws, WORKER), ws_rows, now)
        if upto != last:
            conn.execute(
                social_ingest_cursor.update()
                .where(social_ingest_cursor.c.name == CURSOR)
                .values(last_id=upto, updated_at=now)
            )
    return len(ready)


def handle_rows(conn: sa.Connection, actor: Actor, rows: Sequence[Any], now: datetime) -> None:
    """Do steps 1-5 of the module docstring for one workspace's activity rows."""
    ws = actor.workspace_id
    # 1. link codes prove a handle before anything else resolves it
    for r in rows:
        codes = ids.codes_in(r.text)
        if codes:
            ids.redeem(conn, actor, codes, _author(r), int(r.id), now)
    # 2. authors to contacts, unknown ones to social-only profiles
    authors = {_author(r) for r in rows}
    known = ids.resolve(conn, ws, list(authors))
    known.update(ids.create_profiles(conn, ws, sorted(authors - set(known), key=repr)))
    contact_of = {int(r.id): known[_author(r)] for r in rows}
    # 3. events
    track(
        conn,
        actor,
        [
            TrackIn(
                contact=ContactRef(contact_id=contact_of[int(r.id)]),
                name=event_name(r.kind),
                properties={
                    k: v
                    for k, v in {
                        "platform": r.platform,
                        "account_id": int(r.account_id),
                        "activity_id": r.activity_id,
                        "handle": r.author_handle,
                        "post_id": r.post_id,
                        "in_reply_to": r.in_reply_to,
                        "text": (r.text or "")[:500] or None,
                    }.items()
                    if v is not None
                },
                occurred_at=r.at,
                message_id=f"social:{r.id}",
                source="social",
            )
            for r in rows
        ],
        create_contacts=False,
    )
    _graph(conn, actor, rows, contact_of)
    _feedback(conn, ws, rows, contact_of)


def _graph(
    conn: sa.Connection, actor: Actor, rows: Sequence[Any], contact_of: dict[int, int]
) -> None:
    """Add author -> mentioned (or replied-to) contact edges between known contacts."""
    ws = actor.workspace_id
    graph_rows = [r for r in rows if r.kind in GRAPH_KINDS]
    targets = {m for r in graph_rows for m in _mentioned(r)}
    known = ids.resolve(conn, ws, list(targets)) if targets else {}
    # a reply is also an edge to the author of what it answers, when we fetched that
    replied = sorted({r.in_reply_to for r in graph_rows if r.in_reply_to})
    parent_author: dict[tuple[str, str], int] = {}
    if replied:
        a = social_activities
        parents = conn.execute(
            sa.select(
                a.c.id,
                a.c.platform,
                a.c.activity_id,
                a.c.author_id,
                a.c.author_handle,
                a.c.author_name,
            ).where(a.c.workspace_id == ws, in_values(conn, a.c.activity_id, replied))
        ).all()
        resolved = ids.resolve(conn, ws, [_author(p) for p in parents])
        for p in parents:
            cid = resolved.get(_author(p))
            if cid is not None:
                parent_author[(p.platform, p.activity_id)] = cid
    edges: list[dict[str, Any]] = []
    for r in graph_rows:
        src = contact_of[int(r.id)]
        dsts = {known[m] for m in _mentioned(r) if m in known}
        if r.in_reply_to and (r.platform, r.in_reply_to) in parent_author:
            dsts.add(parent_author[(r.platform, r.in_reply_to)])
        for dst in sorted(dsts - {src}):
            edges.append(
                {
                    "source_contact_id": src,
                    "target_contact_id": dst,
                    "kind": GRAPH_KINDS[r.kind],
                    "at": r.at,
                    "ref": f"social:{r.id}:{dst}",
                }
            )
    if edges:
        record_interactions(conn, actor, edges)


def _feedback(
    conn: sa.Connection, ws: int, rows: Sequence[Any], contact_of: dict[int, int]
) -> None:
    """File comments and replies in the feedback inbox with their sentiment."""
    items = [r for r in rows if r.kind in FEEDBACK_KINDS and (r.text or "").strip()]
    if not items:
        return
    values = []
    for r in items:
        s = analyse(r.text)
        values.append(
            {
                "workspace_id": ws,
                "activity_row_id": int(r.id),
                "contact_id": contact_of[int(r.id)],
                "platform": r.platform,
                "kind": r.kind,
                "author_handle": r.author_handle,
                "post_id": r.post_id,
                "text": r.text,
                "sentiment": s.label,
                "sentiment_score": s.score,
                "status": "open",
                "at": r.at,
            }
        )
    conn.execute(_insert_ignore(conn, social_feedback), values)
