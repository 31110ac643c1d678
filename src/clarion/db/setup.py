"""``clarion init``: migrate and make sure the default workspace exists. Safe on every start."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from clarion.config import get_settings
from clarion.db import migrate


@dataclass(frozen=True)
class InitResult:
    url: str
    revisions: list[str]
    workspace_id: int


def init(engine: Engine) -> InitResult:
    """Apply migrations and create the default workspace if needed."""
    from clarion.workspaces.service import ensure_workspace

    revisions = migrate.upgrade(engine)
    s = get_settings()
    with engine.begin() as conn:
        ws = ensure_workspace(conn, default_region=s.default_region, timezone=s.default_timezone)
    return InitResult(engine.url.render_as_string(hide_password=True), revisions, ws)
