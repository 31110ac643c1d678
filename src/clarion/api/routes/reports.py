"""Campaign reports (JSON, HTML with charts, CSV export) and route health, for readers."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse, HTMLResponse
from starlette.background import BackgroundTask

from clarion.api.deps import ConnDep, EngineDep, require
from clarion.audit.service import Actor

router = APIRouter(prefix="/v1", tags=["reports"])

Reader = Annotated[Actor, Depends(require("campaigns:read"))]


@router.get("/campaigns/{campaign_id}/report")
def report(
    campaign_id: int,
    actor: Reader,
    conn: ConnDep,
    correction: Annotated[str, Query(pattern="^(holm|bh)$")] = "holm",
) -> dict[str, Any]:
    """Attribute conversions, then return the campaign's funnel, variants, lift and SRM."""
    from clarion.analytics.report import build_report

    return build_report(conn, actor.workspace_id, campaign_id, correction=correction).to_dict()


@router.get("/campaigns/{campaign_id}/report.html", response_class=HTMLResponse)
def report_html(campaign_id: int, actor: Reader, conn: ConnDep) -> HTMLResponse:
    """Return the report as one self-contained HTML page with inline SVG charts."""
    from clarion.analytics.html import render_html
    from clarion.analytics.report import build_report

    return HTMLResponse(render_html(build_report(conn, actor.workspace_id, campaign_id)))


@router.get("/campaigns/{campaign_id}/messages.csv")
def messages_csv(campaign_id: int, actor: Reader, engine: EngineDep) -> FileResponse:
    """Return every message of the campaign with its outcome (clicks, conversions) as CSV.

    The export is written to a temporary file first (one streamed pass over the database)
    and sent from disk, so a million rows never sit in memory.
    """
    from clarion.analytics.export import export_messages

    fd, name = tempfile.mkstemp(prefix=f"clarion-campaign-{campaign_id}-", suffix=".csv")
    os.close(fd)
    path = Path(name)
    try:
        with engine.connect() as conn:
            export_messages(conn, actor.workspace_id, campaign_id, csv=path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return FileResponse(
        path,
        media_type="text/csv",
        filename=f"campaign-{campaign_id}.csv",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


@router.get("/routes/health")
def routes_health(
    actor: Reader,
    engine: EngineDep,
    hours: Annotated[int, Query(ge=1, le=24 * 90)] = 24,
) -> dict[str, Any]:
    """Return delivery rate and latency per route, country and carrier, hour by hour."""
    from clarion.analytics.route_health import refresh, route_health
    from clarion.db.engine import read_only

    refresh(engine)
    with read_only(engine) as conn:
        return route_health(conn, actor.workspace_id, hours=hours)
