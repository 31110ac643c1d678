"""Contacts API: CRUD and bulk upsert (scopes contacts:read / contacts:write)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from clarion.api.deps import ConnDep, require
from clarion.audit.service import Actor
from clarion.contacts.service import (
    ContactIn,
    delete_contact,
    get_contact,
    list_contacts,
    update_contact,
    upsert_contacts,
)
from clarion.errors import ValidationFailed

router = APIRouter(prefix="/v1/contacts", tags=["contacts"])
Reader = Annotated[Actor, Depends(require("contacts:read"))]
Writer = Annotated[Actor, Depends(require("contacts:write"))]

MAX_BULK = 10_000


class ContactCreate(BaseModel):
    """A contact as sent by a client; phone in any format, read in ``country`` if national."""

    external_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    email: str | None = None
    locale: str | None = None
    country: str | None = None
    timezone: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    identities: dict[str, str] = Field(default_factory=dict)

    def to_contact_in(self) -> ContactIn:
        return ContactIn(**self.model_dump())


class ContactBulk(BaseModel):
    """Many contacts merged in one call (at most 10,000)."""

    records: list[ContactCreate] = Field(max_length=MAX_BULK)
    default_region: str | None = None


@router.get("")
def list_route(
    actor: Reader,
    conn: ConnDep,
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Return a page of contacts; pass ``next_after_id`` back for the next one."""
    items = list_contacts(conn, actor.workspace_id, after_id=after_id, limit=limit)
    return {"items": items, "next_after_id": items[-1]["id"] if len(items) == limit else None}


@router.post("", status_code=201)
def create_route(body: ContactCreate, actor: Writer, conn: ConnDep) -> dict[str, Any]:
    """Create a contact, or merge into the one sharing its external id, phone or email."""
    result = upsert_contacts(conn, actor, [body.to_contact_in()])
    if result.rejects:
        first = result.rejects[0]
        raise ValidationFailed(
            f"invalid {first.field}: {first.reason}",
            field=first.field,
            value=first.value,
            reason=first.reason,
            rejects=[_reject(r) for r in result.rejects],
        )
    contact_id = result.ids[0]
    assert contact_id is not None
    contact = get_contact(conn, actor.workspace_id, contact_id)
    contact["outcome"] = "created" if result.created else "merged"
    return contact


def _reject(r: Any) -> dict[str, Any]:
    return {"index": r.index, "field": r.field, "value": r.value, "reason": r.reason}


@router.post("/bulk")
def bulk_route(body: ContactBulk, actor: Writer, conn: ConnDep) -> dict[str, Any]:
    """Merge many contacts; return the id per record (null where rejected) and the counts."""
    result = upsert_contacts(
        conn,
        actor,
        [r.to_contact_in() for r in body.records],
        default_region=body.default_region,
    )
    return {
        "ids": result.ids,
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "merged": result.merged,
        "rejects": [_reject(r) for r in result.rejects],
    }


@router.get("/{contact_id}")
def get_route(contact_id: int, actor: Reader, conn: ConnDep) -> dict[str, Any]:
    """Return one contact with tags, identities and current consent."""
    return get_contact(conn, actor.workspace_id, contact_id)


@router.patch("/{contact_id}")
def update_route(
    contact_id: int, body: ContactCreate, actor: Writer, conn: ConnDep
) -> dict[str, Any]:
    """Set the given fields of one contact (empty fields are left as they are)."""
    return update_contact(conn, actor, contact_id, body.to_contact_in())


@router.delete("/{contact_id}", status_code=204)
def delete_route(contact_id: int, actor: Writer, conn: ConnDep) -> Response:
    """Delete one contact and its history."""
    delete_contact(conn, actor, contact_id)
    return Response(status_code=204)
