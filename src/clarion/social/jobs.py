"""The social jobs the worker runs: publish due posts, and poll each account's activity."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.db.engine import read_only
from clarion.delivery.hooks import periodic
from clarion.social.publishing import fetch_all, publish_due
from clarion.social.tables import social_activities, social_ingest_cursor


@periodic("social.publish", every_s=5)
def publish_job(engine: Engine, worker_id: str) -> int:
    """Publish the posts that are due; return how many were tried."""
    return sum(publish_due(engine).values())


@periodic("social.fetch", every_s=60)
def fetch_job(engine: Engine, worker_id: str) -> int:
    """Fetch every account's new activity (platforms rate-limit polling: once a minute)."""
    return sum(fetch_all(engine).values())


#: The ingest cursor's row (``clarion.social.ingest.CURSOR``; a test keeps them equal).
INGEST_CURSOR = "social_activities"


def activity_waiting(engine: Engine) -> bool:
    """Return whether fetched activity lies past the ingest cursor (two reads, no lock)."""
    with read_only(engine) as conn:
        newest = conn.execute(sa.select(sa.func.max(social_activities.c.id))).scalar()
        seen_to = conn.execute(
            sa.select(social_ingest_cursor.c.last_id).where(
                social_ingest_cursor.c.name == INGEST_CURSOR
            )
        ).scalar()
    return newest is not None and (seen_to is None or int(newest) > int(seen_to))


@periodic("social.ingest", every_s=5)
def ingest_job(engine: Engine, worker_id: str) -> int:
    """Turn fetched activity into events, links, graph edges and feedback (socialloop)."""
    from clarion.social.identities import codes_due, expire_codes

    done = 0
    # Look first: the ingest module brings scipy (the influence graph), seconds of CPU to
    # import, which a worker with no social activity (a campaign's worker) need never pay.
    if activity_waiting(engine):
        from clarion.social.ingest import ingest

        done = ingest(engine)
    if codes_due(engine):  # looked at first: a write transaction every tick blocks SQLite
        with engine.begin() as conn:
            expire_codes(conn)
    return done
