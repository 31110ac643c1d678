"""Create, change, list and delete SMPP connectors; read one as a ConnectorConfig.

These are the only writers of ``smpp_connectors``. Passwords are stored in clear (the SMSC
needs them verbatim at every bind) and never returned by listings: ``password_set`` says
whether one is there.
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa

from clarion.audit.service import Actor, record
from clarion.channels.smpp.config import (
    BIND_MODES,
    CONCATENATIONS,
    ID_FORMATS,
    ConnectorConfig,
)
from clarion.channels.smpp.tables import smpp_connectors
from clarion.db.types import utcnow
from clarion.errors import Conflict, NotFound, ValidationFailed

#: Columns a person may set, with the SMPP field limits (5.2: system_id 16, password 9,
#: system_type 13 octets including the NUL).
COLUMNS: Final = (
    "host",
    "port",
    "system_id",
    "password",
    "system_type",
    "bind_mode",
    "binds",
    "window",
    "throughput",
    "concatenation",
    "udh_ref_bits",
    "registered_delivery",
    "source_addr",
    "source_ton",
    "source_npi",
    "default_data_coding",
    "submit_id_format",
    "receipt_id_format",
    "enabled",
)
#: Tuning knobs kept in the ``options`` JSON column.
OPTIONS: Final = (
    "response_timeout",
    "enquire_link_interval",
    "bind_timeout",
    "reconnect_min",
    "reconnect_max",
    "resubmit_uncertain",
    "submit_wait",
    "max_tracked",
    "cost_per_part",
    "dest_ton",
    "dest_npi",
)
_MAX_LEN: Final = {"system_id": 15, "password": 8, "system_type": 12, "source_addr": 20}
_CHOICES: Final[dict[str, tuple[Any, ...]]] = {
    "bind_mode": BIND_MODES,
    "concatenation": CONCATENATIONS,
    "submit_id_format": ID_FORMATS,
    "receipt_id_format": ID_FORMATS,
    "udh_ref_bits": (8, 16),
    "registered_delivery": (0, 1, 2),
}
_RANGES: Final[dict[str, tuple[float, float]]] = {
    "port": (1, 65535),
    "binds": (1, 64),
    "window": (1, 10_000),
    "throughput": (0, 1_000_000),
    "source_ton": (0, 6),
    "source_npi": (0, 18),
    "default_data_coding": (0, 255),
    "dest_ton": (0, 6),
    "dest_npi": (0, 18),
    "response_timeout": (0.01, 3600),
    "enquire_link_interval": (0.05, 3600),
    "bind_timeout": (0.01, 3600),
    "reconnect_min": (0.0, 3600),
    "reconnect_max": (0.0, 86400),
    "submit_wait": (0.0, 86400),
    "max_tracked": (1, 100_000_000),
    "cost_per_part": (0, 1_000_000),
}
_REQUIRED: Final = ("host", "port", "system_id", "password")


def _check(values: dict[str, Any]) -> None:
    for key, value in values.items():
        if key not in COLUMNS and key not in OPTIONS:
            raise ValidationFailed(f"unknown connector setting {key!r}", field=key, value=value)
        if value is None:
            if key in ("source_ton", "source_npi", "cost_per_part"):
                continue
            raise ValidationFailed(f"{key} may not be empty", field=key, value=value)
        if key in _MAX_LEN and len(str(value)) > _MAX_LEN[key]:
            raise ValidationFailed(
                f"{key} is longer than {_MAX_LEN[key]} characters", field=key, value=value
            )
        if key in _CHOICES and value not in _CHOICES[key]:
            raise ValidationFailed(
                f"{key} must be one of {', '.join(map(str, _CHOICES[key]))}",
                field=key,
                value=value,
                allowed=list(_CHOICES[key]),
            )
        if key in _RANGES:
            low, high = _RANGES[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValidationFailed(f"{key} must be a number", field=key, value=value)
            if not low <= value <= high:
                raise ValidationFailed(
                    f"{key} must be between {low:g} and {high:g}", field=key, value=value
                )
    if "host" in values and not str(values["host"]).strip():
        raise ValidationFailed("host may not be empty", field="host", value=values["host"])


def _split(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    columns = {k: v for k, v in values.items() if k in COLUMNS}
    options = {k: v for k, v in values.items() if k in OPTIONS}
    return columns, options


def _public(row: sa.Row[Any]) -> dict[str, Any]:
    out = dict(row._mapping)
    out["password_set"] = bool(out.pop("password", ""))
    return out


def _row(conn: sa.Connection, workspace_id: int, name: str) -> sa.Row[Any]:
    row = conn.execute(
        sa.select(smpp_connectors).where(
            smpp_connectors.c.workspace_id == workspace_id, smpp_connectors.c.name == name
        )
    ).first()
    if row is None:
        raise NotFound(f"no SMPP connector {name!r}", field="name", value=name)
    return row


def create_connector(
    conn: sa.Connection, actor: Actor, name: str, values: dict[str, Any]
) -> dict[str, Any]:
    """Create connector ``name`` in the actor's workspace and return it (without password)."""
    if not name.strip() or len(name) > 100:
        raise ValidationFailed("a connector needs a name of 1-100 characters", field="name")
    missing = [k for k in _REQUIRED if values.get(k) in (None, "")]
    if missing:
        raise ValidationFailed(
            f"missing {', '.join(missing)}", field=missing[0], value=None, missing=missing
        )
    _check(values)
    exists = conn.execute(
        sa.select(smpp_connectors.c.id).where(
            smpp_connectors.c.workspace_id == actor.workspace_id, smpp_connectors.c.name == name
        )
    ).first()
    if exists is not None:
        raise Conflict(f"an SMPP connector {name!r} exists", field="name", value=name)
    columns, options = _split(values)
    now = utcnow()
    new_id = conn.execute(
        smpp_connectors.insert()
        .values(
            workspace_id=actor.workspace_id,
            name=name,
            options=options,
            created_at=now,
            updated_at=now,
            **columns,
        )
        .returning(smpp_connectors.c.id)
    ).scalar_one()
    record(conn, actor, "smpp_connector.create", "smpp_connector", new_id, _audit(values))
    return _public(_row(conn, actor.workspace_id, name))


def update_connector(
    conn: sa.Connection, actor: Actor, name: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """Change settings of connector ``name``; return it as it now is."""
    row = _row(conn, actor.workspace_id, name)
    _check(changes)
    columns, options = _split(changes)
    merged = {**(row.options or {}), **options}
    conn.execute(
        smpp_connectors.update()
        .where(smpp_connectors.c.id == row.id)
        .values(options=merged, updated_at=utcnow(), **columns)
    )
    record(conn, actor, "smpp_connector.update", "smpp_connector", row.id, _audit(changes))
    return _public(_row(conn, actor.workspace_id, name))


def delete_connector(conn: sa.Connection, actor: Actor, name: str) -> None:
    """Delete connector ``name``."""
    row = _row(conn, actor.workspace_id, name)
    conn.execute(smpp_connectors.delete().where(smpp_connectors.c.id == row.id))
    record(conn, actor, "smpp_connector.delete", "smpp_connector", row.id, {"name": name})


def get_connector(conn: sa.Connection, workspace_id: int, name: str) -> dict[str, Any]:
    """Return connector ``name`` without its password."""
    return _public(_row(conn, workspace_id, name))


def list_connectors(conn: sa.Connection, workspace_id: int) -> list[dict[str, Any]]:
    """Return the workspace's connectors by name, without passwords."""
    rows = conn.execute(
        sa.select(smpp_connectors)
        .where(smpp_connectors.c.workspace_id == workspace_id)
        .order_by(smpp_connectors.c.name)
    ).all()
    return [_public(r) for r in rows]


def connector_config(conn: sa.Connection, workspace_id: int, name: str) -> ConnectorConfig:
    """Return what a worker needs to run connector ``name`` (password included)."""
    row = _row(conn, workspace_id, name)
    values = dict(row._mapping)
    values.update(values.pop("options") or {})
    return ConnectorConfig.from_mapping(values)


def _audit(values: dict[str, Any]) -> dict[str, Any]:
    return {k: ("***" if k == "password" else v) for k, v in values.items()}
