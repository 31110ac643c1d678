"""SMPP connectors: list, create, read, change and delete (admin keys only).

Passwords are accepted but never returned (``password_set`` tells whether one is stored).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from clarion.api.deps import ConnDep, require
from clarion.audit.service import Actor
from clarion.channels.smpp import service

router = APIRouter(prefix="/v1/connectors/smpp", tags=["connectors"])

Admin = Annotated[Actor, Depends(require("admin"))]


class ConnectorUpdate(BaseModel):
    """Settings of an SMPP connector; the service checks values against SMPP's limits."""

    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(None, max_length=255)
    port: int | None = None
    system_id: str | None = None
    password: str | None = None
    system_type: str | None = None
    bind_mode: Literal["transceiver", "transmitter", "receiver", "transmitter_receiver"] | None = (
        None
    )
    binds: int | None = None
    window: int | None = None
    throughput: float | None = None
    concatenation: Literal["udh", "sar", "payload"] | None = None
    udh_ref_bits: int | None = None
    registered_delivery: int | None = None
    source_addr: str | None = None
    source_ton: int | None = None
    source_npi: int | None = None
    default_data_coding: int | None = None
    submit_id_format: Literal["text", "hex", "decimal"] | None = None
    receipt_id_format: Literal["text", "hex", "decimal"] | None = None
    enabled: bool | None = None
    response_timeout: float | None = None
    enquire_link_interval: float | None = None
    bind_timeout: float | None = None
    reconnect_min: float | None = None
    reconnect_max: float | None = None
    resubmit_uncertain: bool | None = None
    submit_wait: float | None = None
    cost_per_part: float | None = None


class ConnectorCreate(ConnectorUpdate):
    name: str = Field(min_length=1, max_length=100)


@router.get("")
def list_connectors(actor: Admin, conn: ConnDep) -> list[dict[str, Any]]:
    """Return the workspace's SMPP connectors."""
    return service.list_connectors(conn, actor.workspace_id)


@router.post("", status_code=201)
def create_connector(body: ConnectorCreate, actor: Admin, conn: ConnDep) -> dict[str, Any]:
    """Create an SMPP connector."""
    values = body.model_dump(exclude_unset=True)
    name = values.pop("name")
    return service.create_connector(conn, actor, name, values)


@router.get("/{name}")
def get_connector(name: str, actor: Admin, conn: ConnDep) -> dict[str, Any]:
    """Return one SMPP connector."""
    return service.get_connector(conn, actor.workspace_id, name)


@router.patch("/{name}")
def update_connector(
    name: str, body: ConnectorUpdate, actor: Admin, conn: ConnDep
) -> dict[str, Any]:
    """Change settings of an SMPP connector."""
    return service.update_connector(conn, actor, name, body.model_dump(exclude_unset=True))


@router.delete("/{name}", status_code=204)
def delete_connector(name: str, actor: Admin, conn: ConnDep) -> Response:
    """Delete an SMPP connector."""
    service.delete_connector(conn, actor, name)
    return Response(status_code=204)
