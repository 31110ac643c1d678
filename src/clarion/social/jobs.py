"""The social jobs the worker runs: publish due posts, and poll each account's activity."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from clarion.delivery.hooks import periodic
from clarion.social.publishing import fetch_all, publish_due


@periodic("social.publish", every_s=5)
def publish_job(engine: Engine, worker_id: str) -> int:
    """Publish the posts that are due; return how many were tried."""
    return sum(publish_due(engine).values())


@periodic("social.fetch", every_s=60)
def fetch_job(engine: Engine, worker_id: str) -> int:
    """Fetch every account's new activity (platforms rate-limit polling: once a minute)."""
    return sum(fetch_all(engine).values())


@periodic("social.ingest", every_s=5)
def ingest_job(engine: Engine, worker_id: str) -> int:
    """Turn fetched activity into events, links, graph edges and feedback (socialloop)."""
    from clarion.social.identities import codes_due, expire_codes
    from clarion.social.ingest import ingest

    done = ingest(engine)
    if codes_due(engine):  # looked at first: a write transaction every tick blocks SQLite
        with engine.begin() as conn:
            expire_codes(conn)
    return done
