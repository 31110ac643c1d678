"""Connectors of the HTTP provider and SMTP kinds: list, create, read, change, delete (admin).

The body's ``settings`` are checked by the kind's own model (``clarion.channels.registry``), so
a wrong or unknown setting is a 422 naming it. Secrets are accepted and never returned: a
connector shows ``secrets_set`` (the names of the secrets that have a value) instead.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from clarion.api.deps import ConnDep, require
from clarion.audit.service import Actor
from clarion.channels import service

router = APIRouter(prefix="/v1/connectors/providers", tags=["connectors"])

Admin = Annotated[Actor, Depends(require("admin"))]


class ProviderConnectorCreate(BaseModel):
    """A connector of kind ``kind`` with its settings (secrets included)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    kind: str = Field(min_length=1, max_length=20)
    settings: dict[str, Any] = Field(default_factory=dict)


class ProviderConnectorUpdate(BaseModel):
    """Settings to change (merged into the stored ones), and/or switching it on or off."""

    model_config = ConfigDict(extra="forbid")

    settings: dict[str, Any] = Field(default_factory=dict)
    enabled: bool | None = None


@router.get("")
def list_connectors(actor: Admin, conn: ConnDep) -> list[dict[str, Any]]:
    """Return the workspace's provider connectors, without secrets."""
    return service.list_connectors(conn, actor.workspace_id)


@router.post("", status_code=201)
def create_connector(body: ProviderConnectorCreate, actor: Admin, conn: ConnDep) -> dict[str, Any]:
    """Create a connector of any non-SMPP kind."""
    return service.create_connector(conn, actor, body.name, body.kind, body.settings)


@router.get("/{name}")
def get_connector(name: str, actor: Admin, conn: ConnDep) -> dict[str, Any]:
    """Return one provider connector, without secrets."""
    return service.get_connector(conn, actor.workspace_id, name)


@router.patch("/{name}")
def update_connector(
    name: str, body: ProviderConnectorUpdate, actor: Admin, conn: ConnDep
) -> dict[str, Any]:
    """Change settings (or secrets) of a provider connector."""
    changes = dict(body.settings)
    if body.enabled is not None:
        changes["enabled"] = body.enabled
    return service.update_connector(conn, actor, name, changes)


@router.delete("/{name}", status_code=204)
def delete_connector(name: str, actor: Admin, conn: ConnDep) -> Response:
    """Delete a provider connector."""
    service.delete_connector(conn, actor, name)
    return Response(status_code=204)
