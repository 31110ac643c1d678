"""Read import jobs (written by the pipeline)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from clarion.contacts.tables import import_jobs
from clarion.errors import NotFound


def get_job(conn: sa.Connection, workspace_id: int, job_id: int) -> dict[str, Any]:
    """Return one import job with its report, or raise NotFound."""
    row = (
        conn.execute(
            sa.select(import_jobs).where(
                import_jobs.c.workspace_id == workspace_id, import_jobs.c.id == job_id
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no import job {job_id}", field="job_id", value=job_id)
    return dict(row)


def list_jobs(conn: sa.Connection, workspace_id: int, *, limit: int = 50) -> list[dict[str, Any]]:
    """Return the workspace's newest import jobs first."""
    q = (
        sa.select(import_jobs)
        .where(import_jobs.c.workspace_id == workspace_id)
        .order_by(import_jobs.c.id.desc())
        .limit(limit)
    )
    return [dict(r) for r in conn.execute(q).mappings()]
