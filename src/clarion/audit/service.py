"""Write and read the audit log.

Every state-changing service function calls :func:`record` inside its own transaction, so an
audit row exists exactly when the change it describes was committed.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from clarion.audit.tables import audit_log
from clarion.db.types import utcnow


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: an API key, a CLI user or a system process, within one workspace."""

    workspace_id: int
    kind: str  # "apikey", "cli", "system"
    name: str
    scopes: frozenset[str] = frozenset({"admin"})

    @property
    def label(self) -> str:
        """Return the actor as written in the audit log, e.g. ``apikey:12``."""
        return f"{self.kind}:{self.name}"

    @classmethod
    def cli(cls, workspace_id: int) -> Actor:
        """Return the actor for a person at the command line."""
        try:
            user = getpass.getuser()
        except Exception:  # no passwd entry in some containers
            user = "unknown"
        return cls(workspace_id, "cli", user)

    @classmethod
    def system(cls, workspace_id: int, process: str) -> Actor:
        """Return the actor for a background process (worker, scheduler, demo)."""
        return cls(workspace_id, "system", process)


def record(
    conn: sa.Connection,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: Any = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry for a change made by ``actor``."""
    conn.execute(
        audit_log.insert().values(
            workspace_id=actor.workspace_id,
            at=utcnow(),
            actor=actor.label,
            action=action,
            object_type=object_type,
            object_id=None if object_id is None else str(object_id),
            details=details or {},
        )
    )


def entries(
    conn: sa.Connection,
    workspace_id: int,
    *,
    object_type: str | None = None,
    object_id: Any = None,
    limit: int = 100,
) -> Sequence[sa.Row[Any]]:
    """Return the newest audit entries of a workspace, optionally for one object."""
    q = sa.select(audit_log).where(audit_log.c.workspace_id == workspace_id)
    if object_type is not None:
        q = q.where(audit_log.c.object_type == object_type)
    if object_id is not None:
        q = q.where(audit_log.c.object_id == str(object_id))
    return conn.execute(q.order_by(audit_log.c.id.desc()).limit(limit)).all()
