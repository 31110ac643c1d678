"""Liveness and readiness."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter

from clarion.api.deps import EngineDep
from clarion.db import migrate

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Answer while the process runs."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(engine: EngineDep) -> dict[str, object]:
    """Answer ready when the database answers and no migration is pending."""
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    return {"status": "ready", "migrations_pending": migrate.pending(engine)}
