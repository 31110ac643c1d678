"""Write and read per-contact traits.

Traits are written in bulk by whatever computes them (RFM, clustering, churn models, an import):
one call replaces the value of one trait for many contacts, in one statement per chunk.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from clarion.audit.service import Actor, record
from clarion.contacts.tables import contacts
from clarion.db.types import utcnow
from clarion.errors import ValidationFailed
from clarion.traits.tables import contact_traits

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
_CHUNK = 5000


def _check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise ValidationFailed(
            "a trait name is lower-case letters, digits and underscores, starting with a letter",
            field="name",
            value=name,
        )


def _row(
    workspace_id: int, name: str, contact_id: int, value: float | str, common: dict[str, Any]
) -> dict[str, Any]:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValidationFailed(
            "a trait value is a number or a text",
            field="values",
            value=repr(value),
            row=contact_id,
        )
    num = float(value) if not isinstance(value, str) else None
    text = value if isinstance(value, str) else None
    if text is not None and len(text) > 500:
        raise ValidationFailed(
            "a text trait is at most 500 characters", field="values", row=contact_id
        )
    return {
        "workspace_id": workspace_id,
        "contact_id": contact_id,
        "name": name,
        "value_num": num,
        "value_text": text,
        **common,
    }


def set_traits(
    conn: sa.Connection,
    actor: Actor,
    name: str,
    values: Mapping[int, float | str],
    *,
    source: str,
    version: str,
    computed_at: datetime | None = None,
) -> int:
    """Set trait ``name`` for every contact in ``values``; return how many rows were written.

    The previous values of those contacts are replaced (delete then insert, chunked), which works
    the same on both databases and keeps one row per (contact, trait). Contacts of another
    workspace, or unknown ids, are refused so a model can never write across workspaces.
    """
    _check_name(name)
    if not values:
        return 0
    ws = actor.workspace_id
    ids = list(values)
    known: set[int] = set()
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        known.update(
            conn.execute(
                sa.select(contacts.c.id).where(
                    contacts.c.workspace_id == ws, contacts.c.id.in_(chunk)
                )
            ).scalars()
        )
    unknown = [c for c in ids if c not in known]
    if unknown:
        raise ValidationFailed(
            f"{len(unknown)} contact id(s) not in this workspace",
            field="values",
            value=unknown[:10],
            row=unknown[0],
        )
    common = {"computed_at": computed_at or utcnow(), "source": source, "model_version": version}
    rows = [_row(ws, name, cid, v, common) for cid, v in values.items()]
    for i in range(0, len(rows), _CHUNK):
        chunk_rows = rows[i : i + _CHUNK]
        conn.execute(
            contact_traits.delete().where(
                contact_traits.c.name == name,
                contact_traits.c.contact_id.in_([r["contact_id"] for r in chunk_rows]),
            )
        )
        conn.execute(contact_traits.insert(), chunk_rows)
    record(
        conn,
        actor,
        "traits.set",
        "trait",
        name,
        {"contacts": len(rows), "source": source, "version": version},
    )
    return len(rows)


def get_traits(conn: sa.Connection, workspace_id: int, contact_id: int) -> dict[str, Any]:
    """Return the contact's traits as ``{name: {value, computed_at, source, version}}``."""
    rows = conn.execute(
        sa.select(contact_traits)
        .where(
            contact_traits.c.workspace_id == workspace_id,
            contact_traits.c.contact_id == contact_id,
        )
        .order_by(contact_traits.c.name)
    ).all()
    return {
        r.name: {
            "value": r.value_text if r.value_text is not None else r.value_num,
            "computed_at": r.computed_at,
            "source": r.source,
            "version": r.model_version,
        }
        for r in rows
    }


def trait_names(conn: sa.Connection, workspace_id: int) -> list[str]:
    """Return the names of the traits that exist in the workspace (for rule validation hints)."""
    return list(
        conn.execute(
            sa.select(contact_traits.c.name)
            .where(contact_traits.c.workspace_id == workspace_id)
            .distinct()
            .order_by(contact_traits.c.name)
        ).scalars()
    )
