"""Create, change, list and delete connectors of the non-SMPP kinds; read one for a worker.

The only writers of ``connectors``. Settings are validated by the kind's own model, so a typo
(``acount_sid``) or a bad value is refused naming the field. Secrets are kept in their own
column, shown only as ``secrets_set`` (the names that have a value), and masked in the audit
log. Names are unique per workspace across SMPP and these kinds, since a route names its
connector by name alone.
"""

from __future__ import annotations

import secrets as pysecrets
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError as PydanticError

from clarion.audit.service import Actor, record
from clarion.channels.config import ConnectorConfig
from clarion.channels.registry import Provider, provider
from clarion.channels.tables import connectors
from clarion.db.types import utcnow
from clarion.errors import Conflict, NotFound, ValidationFailed


def _validate(prov: Provider, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (settings, secrets) of ``values`` checked by the kind's model."""
    try:
        model = prov.settings.model_validate(values)
    except PydanticError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        value = err.get("input") if where not in prov.secrets else "***"
        raise ValidationFailed(
            f"{prov.kind} connector: {where}: {err['msg']}", field=where, value=value
        ) from None
    data = model.model_dump(exclude_none=True)
    secret = {k: data.pop(k) for k in prov.secrets if k in data}
    return data, secret


def _public(row: Any) -> dict[str, Any]:
    return {
        "id": int(row.id),
        "name": row.name,
        "kind": row.kind,
        "settings": dict(row.settings),
        "secrets_set": sorted(k for k, v in dict(row.secrets).items() if v not in (None, "")),
        "callback_key": row.callback_key,
        # Where the provider should send reports: <Clarion's public URL> + this + <event>.
        "callback_path": f"/v1/callbacks/{row.callback_key}/",
        "enabled": bool(row.enabled),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _row(conn: sa.Connection, workspace_id: int, name: str) -> Any:
    row = conn.execute(
        sa.select(connectors).where(
            connectors.c.workspace_id == workspace_id, connectors.c.name == name
        )
    ).first()
    if row is None:
        raise NotFound(f"no connector {name!r}", field="name", value=name)
    return row


def _audit(prov: Provider, values: dict[str, Any]) -> dict[str, Any]:
    return {k: ("***" if k in prov.secrets else v) for k, v in values.items()}


def create_connector(
    conn: sa.Connection, actor: Actor, name: str, kind: str, values: dict[str, Any]
) -> dict[str, Any]:
    """Create connector ``name`` of ``kind`` and return it (secrets only as their names)."""
    from clarion.channels.smpp.tables import smpp_connectors

    prov = provider(kind)
    if not name.strip() or len(name) > 100:
        raise ValidationFailed("a connector needs a name of 1-100 characters", field="name")
    settings, secret = _validate(prov, values)
    for table in (connectors, smpp_connectors):
        taken = conn.execute(
            sa.select(table.c.id).where(
                table.c.workspace_id == actor.workspace_id, table.c.name == name
            )
        ).first()
        if taken is not None:
            raise Conflict(f"a connector named {name!r} exists", field="name", value=name)
    now = utcnow()
    new_id = conn.execute(
        connectors.insert()
        .values(
            workspace_id=actor.workspace_id,
            name=name,
            kind=kind,
            settings=settings,
            secrets=secret,
            callback_key="cb_" + pysecrets.token_urlsafe(24),
            enabled=True,
            created_at=now,
            updated_at=now,
        )
        .returning(connectors.c.id)
    ).scalar_one()
    record(
        conn, actor, "connector.create", "connector", new_id, {"kind": kind, **_audit(prov, values)}
    )
    return _public(_row(conn, actor.workspace_id, name))


def update_connector(
    conn: sa.Connection, actor: Actor, name: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """Change settings (or secrets) of connector ``name``; ``enabled`` switches it on or off."""
    row = _row(conn, actor.workspace_id, name)
    prov = provider(row.kind)
    changes = dict(changes)
    enabled = changes.pop("enabled", None)
    merged = {**dict(row.settings), **dict(row.secrets), **changes}
    settings, secret = _validate(prov, {k: v for k, v in merged.items() if v is not None})
    values: dict[str, Any] = {"settings": settings, "secrets": secret, "updated_at": utcnow()}
    if enabled is not None:
        values["enabled"] = bool(enabled)
    conn.execute(connectors.update().where(connectors.c.id == row.id).values(**values))
    audit = _audit(prov, changes)
    if enabled is not None:
        audit["enabled"] = bool(enabled)
    record(conn, actor, "connector.update", "connector", row.id, audit)
    return _public(_row(conn, actor.workspace_id, name))


def delete_connector(conn: sa.Connection, actor: Actor, name: str) -> None:
    """Delete connector ``name``."""
    row = _row(conn, actor.workspace_id, name)
    conn.execute(connectors.delete().where(connectors.c.id == row.id))
    record(conn, actor, "connector.delete", "connector", row.id, {"name": name})


def get_connector(conn: sa.Connection, workspace_id: int, name: str) -> dict[str, Any]:
    """Return connector ``name`` without its secrets."""
    return _public(_row(conn, workspace_id, name))


def list_connectors(conn: sa.Connection, workspace_id: int) -> list[dict[str, Any]]:
    """Return the workspace's connectors by name, without secrets."""
    rows = conn.execute(
        sa.select(connectors)
        .where(connectors.c.workspace_id == workspace_id)
        .order_by(connectors.c.name)
    ).all()
    return [_public(r) for r in rows]


def _config(row: Any) -> ConnectorConfig:
    return ConnectorConfig(
        name=row.name,
        kind=row.kind,
        settings=dict(row.settings),
        secrets=dict(row.secrets),
        callback_key=row.callback_key,
        workspace_id=int(row.workspace_id),
        id=int(row.id),
    )


def connector_config(conn: sa.Connection, workspace_id: int, name: str) -> ConnectorConfig:
    """Return what a worker needs to run connector ``name`` (secrets included)."""
    return _config(_row(conn, workspace_id, name))


def config_by_callback_key(conn: sa.Connection, key: str) -> ConnectorConfig:
    """Return the connector a callback URL names, or raise NotFound."""
    row = conn.execute(sa.select(connectors).where(connectors.c.callback_key == key)).first()
    if row is None or not row.enabled:
        raise NotFound("no connector for this callback URL", field="connector")
    return _config(row)
