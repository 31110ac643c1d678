"""Import jobs API: upload a file to import, read jobs and their reports (imports:write).

The file is the raw request body (``Content-Type`` is not interpreted), streamed to a temporary
file and imported exactly as ``clarion import contacts`` would.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from clarion.api.deps import EngineDep, require
from clarion.audit.service import Actor
from clarion.errors import ValidationFailed
from clarion.imports.contacts import import_contacts, parse_map
from clarion.imports.jobs import get_job, list_jobs
from clarion.imports.readers import guess_format

router = APIRouter(prefix="/v1/imports", tags=["imports"])
Writer = Annotated[Actor, Depends(require("imports:write"))]
#: Lines of the rejects CSV returned in the response (the counts cover all of them).
MAX_REJECT_LINES = 1000


def _head(path: Path, lines: int) -> str:
    with path.open(encoding="utf-8") as f:
        return "".join(line for _, line in zip(range(lines + 1), f, strict=False))


@router.post("/contacts", status_code=201)
async def import_contacts_route(
    request: Request,
    engine: EngineDep,
    actor: Writer,
    filename: Annotated[str, Query(min_length=1, max_length=200)],
    map: str = "",
    region: str = "",
    encoding: str = "",
) -> dict[str, Any]:
    """Import the body as a contacts file named ``filename``; return the cleaning report."""
    name = Path(filename).name
    fmt = guess_format(Path(name))
    mapping = parse_map(map)
    with tempfile.TemporaryDirectory(prefix="clarion-import-") as tmp:
        path = Path(tmp) / name
        size = 0
        with path.open("wb") as f:
            async for chunk in request.stream():
                size += len(chunk)
                f.write(chunk)
        if size == 0:
            raise ValidationFailed("the request body (the file) is empty", field="body")
        report = await run_in_threadpool(
            import_contacts,
            engine,
            actor,
            path,
            mapping=mapping,
            default_region=region.upper() or None,
            rejects_path=Path(tmp) / "rejects.csv",
            fmt=fmt,
            encoding=encoding or None,
            workers=0,
        )
        body = report.to_dict()
        rejects = Path(tmp) / "rejects.csv"
        body["rejects"] = _head(rejects, MAX_REJECT_LINES) if rejects.exists() else ""
        body["rejects_path"] = None
        return body


@router.get("")
def list_route(engine: EngineDep, actor: Writer) -> list[dict[str, Any]]:
    """Return the newest import jobs."""
    with engine.connect() as conn:
        return list_jobs(conn, actor.workspace_id)


@router.get("/{job_id}")
def get_route(job_id: int, engine: EngineDep, actor: Writer) -> dict[str, Any]:
    """Return one import job with its report."""
    with engine.connect() as conn:
        return get_job(conn, actor.workspace_id, job_id)
