"""Templates API under /v1/templates: CRUD, lint and preview (scope templates:write)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from clarion.api.deps import EngineDep, require
from clarion.audit.service import Actor
from clarion.messages import service

router = APIRouter(prefix="/v1/templates", tags=["templates"])
Writer = Annotated[Actor, Depends(require("templates:write"))]
# Each route opens its own transaction and commits it before returning. (A ``yield`` dependency's
# exit code runs after the response is sent, so a client acting on a 2xx could otherwise read
# the state before the commit.) The actor is resolved first: on SQLite an open write
# transaction would make authenticating on a second connection wait for its lock.


class TemplateBody(BaseModel):
    """The text of a template: a default body and optional locale variants."""

    body: str = Field(max_length=20_000)
    variants: dict[str, str] = Field(default_factory=dict)


class TemplateSave(TemplateBody):
    """A template to save; ``name`` comes from the path on PUT."""

    channel: str = "sms"
    purpose: str = "marketing"


class TemplateCreate(TemplateSave):
    name: str


class PreviewOne(BaseModel):
    contact_id: int
    price_per_part: float | None = None


class PreviewMany(BaseModel):
    contact_ids: list[int] = Field(min_length=1, max_length=service.MAX_PREVIEW_CONTACTS)
    price_per_part: float | None = None


def _save(engine: Engine, actor: Actor, name: str, body: TemplateSave) -> dict[str, Any]:
    with engine.begin() as conn:
        return service.save_template(
            conn,
            actor,
            name=name,
            body=body.body,
            channel=body.channel,
            purpose=body.purpose,
            variants=body.variants,
        )


@router.get("")
def list_route(
    actor: Writer, engine: EngineDep, channel: str | None = None
) -> list[dict[str, Any]]:
    """List the workspace's templates."""
    with engine.connect() as conn:
        return service.list_templates(conn, actor.workspace_id, channel=channel)


@router.post("", status_code=201)
def create_route(body: TemplateCreate, actor: Writer, engine: EngineDep) -> dict[str, Any]:
    """Lint and save a template (422 with line, column and name when it does not lint)."""
    return _save(engine, actor, body.name, body)


@router.post("/lint")
def lint_route(body: TemplateBody, actor: Writer, engine: EngineDep) -> dict[str, Any]:
    """Report every problem of a template text without saving it."""
    with engine.connect() as conn:
        schema = service.workspace_schema(conn, actor.workspace_id)
    return service.lint_source(body.body, body.variants, known=schema)


@router.get("/{name}")
def get_route(name: str, actor: Writer, engine: EngineDep, channel: str = "sms") -> dict[str, Any]:
    """Return one template."""
    with engine.connect() as conn:
        return service.get_template(conn, actor.workspace_id, name, channel=channel)


@router.put("/{name}")
def put_route(name: str, body: TemplateSave, actor: Writer, engine: EngineDep) -> dict[str, Any]:
    """Create or update a template by name (the version goes up when it changes)."""
    return _save(engine, actor, name, body)


@router.delete("/{name}", status_code=204)
def delete_route(name: str, actor: Writer, engine: EngineDep, channel: str = "sms") -> Response:
    """Delete a template."""
    with engine.begin() as conn:
        service.delete_template(conn, actor, name, channel=channel)
    return Response(status_code=204)


@router.post("/{name}/preview")
def preview_route(
    name: str, body: PreviewOne, actor: Writer, engine: EngineDep, channel: str = "sms"
) -> dict[str, Any]:
    """Render a saved template for one contact: text, encoding, parts and cost."""
    with engine.connect() as conn:
        return service.preview_for_contact(
            conn,
            actor.workspace_id,
            name,
            body.contact_id,
            channel=channel,
            price_per_part=body.price_per_part,
        )


@router.post("/{name}/preview-many")
def preview_many_route(
    name: str, body: PreviewMany, actor: Writer, engine: EngineDep, channel: str = "sms"
) -> dict[str, Any]:
    """Return typical (median) and worst-case length, parts and cost over a list of contacts."""
    with engine.connect() as conn:
        return service.preview_for_contacts(
            conn,
            actor.workspace_id,
            name,
            body.contact_ids,
            channel=channel,
            price_per_part=body.price_per_part,
        )
