"""Workspace-level compliance settings: policy overrides and the workspace's own terms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from clarion.audit.service import Actor, record
from clarion.compliance.cache import TTLCache
from clarion.compliance.policies import Policy, jurisdiction_codes, validate_settings
from clarion.compliance.screening import ACTIONS, Term
from clarion.compliance.tables import compliance_policy_overrides, compliance_terms
from clarion.db.types import utcnow
from clarion.errors import NotFound, ValidationFailed
from clarion.workspaces.tables import workspaces


def _check_jurisdiction(code: str) -> None:
    if code not in jurisdiction_codes():
        raise ValidationFailed(
            f"unknown jurisdiction {code!r}",
            field="jurisdiction",
            value=code,
            allowed=jurisdiction_codes(),
        )


def set_policy(
    conn: sa.Connection, actor: Actor, jurisdiction: str, settings: Mapping[str, Any]
) -> dict[str, Any]:
    """Merge ``settings`` into the workspace's override for ``jurisdiction``; return the result.

    A key set to None is removed from the override (the built-in value applies again).
    """
    _check_jurisdiction(jurisdiction)
    validate_settings({k: v for k, v in settings.items() if v is not None}, jurisdiction)
    t = compliance_policy_overrides
    where = (t.c.workspace_id == actor.workspace_id, t.c.jurisdiction == jurisdiction)
    current = conn.execute(sa.select(t.c.settings).where(*where)).scalar()
    merged = {**(current or {}), **settings}
    merged = {k: v for k, v in merged.items() if v is not None}
    now = utcnow()
    if current is None:
        conn.execute(
            t.insert().values(
                workspace_id=actor.workspace_id,
                jurisdiction=jurisdiction,
                settings=merged,
                updated_at=now,
                actor=actor.label,
            )
        )
    else:
        conn.execute(t.update().where(*where).values(settings=merged, updated_at=now))
    record(conn, actor, "compliance.policy.set", "compliance_policy", jurisdiction, dict(settings))
    return merged


def policy_overrides(conn: sa.Connection, workspace_id: int) -> dict[str, dict[str, Any]]:
    """Return the workspace's overrides by jurisdiction code (``*`` for workspace-wide)."""
    t = compliance_policy_overrides
    q = sa.select(t.c.jurisdiction, t.c.settings).where(t.c.workspace_id == workspace_id)
    return {str(j): dict(s) for j, s in conn.execute(q)}


@dataclass(frozen=True, slots=True)
class TermIn:
    """A term the workspace adds to screening, for one jurisdiction or all (``*``)."""

    term: str
    category: str
    action: str = "block"
    jurisdiction: str = "*"


def add_terms(conn: sa.Connection, actor: Actor, entries: Sequence[TermIn]) -> int:
    """Add workspace terms (an existing term is updated in place); return how many were given."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    now = utcnow()
    for i, e in enumerate(entries):
        if e.action not in ACTIONS:
            raise ValidationFailed("action is block or warn", field="action", value=e.action, row=i)
        if not e.term.strip() or not e.category.strip():
            raise ValidationFailed("term and category are required", field="term", row=i)
        _check_jurisdiction(e.jurisdiction)
        rows[(e.jurisdiction, e.term.strip())] = {
            "workspace_id": actor.workspace_id,
            "jurisdiction": e.jurisdiction,
            "category": e.category.strip()[:50],
            "term": e.term.strip()[:200],
            "action": e.action,
            "created_at": now,
            "actor": actor.label,
        }
    t = compliance_terms
    for jur in {j for j, _ in rows}:
        terms = [term for j, term in rows if j == jur]
        conn.execute(
            t.delete().where(
                t.c.workspace_id == actor.workspace_id,
                t.c.jurisdiction == jur,
                t.c.term.in_(terms),
            )
        )
    if rows:
        conn.execute(t.insert(), list(rows.values()))
        record(conn, actor, "compliance.terms.add", "compliance_terms", None, {"n": len(rows)})
    return len(rows)


def remove_term(conn: sa.Connection, actor: Actor, term: str, jurisdiction: str = "*") -> None:
    """Remove one workspace term or raise NotFound."""
    t = compliance_terms
    res = conn.execute(
        t.delete().where(
            t.c.workspace_id == actor.workspace_id,
            t.c.jurisdiction == jurisdiction,
            t.c.term == term,
        )
    )
    if res.rowcount == 0:
        raise NotFound("no such workspace term", field="term", value=term)
    record(conn, actor, "compliance.terms.remove", "compliance_terms", term)


def workspace_terms(conn: sa.Connection, workspace_id: int) -> dict[str, tuple[Term, ...]]:
    """Return the workspace's terms grouped by jurisdiction code (``*`` for all)."""
    t = compliance_terms
    q = (
        sa.select(t.c.jurisdiction, t.c.term, t.c.category, t.c.action)
        .where(t.c.workspace_id == workspace_id)
        .order_by(t.c.id)
    )
    out: dict[str, list[Term]] = {}
    for jur, term, category, action in conn.execute(q):
        out.setdefault(str(jur), []).append(Term(term, category, action, "workspace"))
    return {k: tuple(v) for k, v in out.items()}


@dataclass(frozen=True, slots=True)
class WorkspaceRules:
    """What a workspace's compliance decisions need besides the recipient: its zone, default
    region, policy overrides and own terms. Read once per TTL by the send path."""

    timezone: str
    default_region: str | None
    overrides: dict[str, dict[str, Any]]
    terms: dict[str, tuple[Term, ...]]
    #: Policies resolved from ``overrides`` by jurisdiction, filled as sends need them: they
    #: live exactly as long as the settings they were resolved from.
    policies: dict[str, Policy] = field(default_factory=dict)


_RULES: TTLCache[WorkspaceRules | None] = TTLCache(
    "workspaces", "compliance_policy_overrides", "compliance_terms"
)
_WORKSPACE = sa.select(workspaces.c.timezone, workspaces.c.default_region).where(
    workspaces.c.id == sa.bindparam("ws")
)


def workspace_rules(conn: sa.Connection, workspace_id: int) -> WorkspaceRules | None:
    """Return the workspace's compliance settings (None: no such workspace), cached.

    See :mod:`clarion.compliance.cache` for how a change reaches the cache: at once in this
    process, within 2 s in another.
    """

    def load() -> WorkspaceRules | None:
        row = conn.execute(_WORKSPACE, {"ws": workspace_id}).first()
        if row is None:
            return None
        return WorkspaceRules(
            str(row.timezone),
            row.default_region,
            policy_overrides(conn, workspace_id),
            workspace_terms(conn, workspace_id),
        )

    return _RULES.get(conn, workspace_id, load)
