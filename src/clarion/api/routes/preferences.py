"""Preference pages (public: the signed token is the authority) and the link for a contact.

``GET /v1/preferences/{token}`` shows the page; the form posts back to the same URL and is
answered with a redirect to the page (post/redirect/get), so reloading never posts twice. A
POST whose body is ``List-Unsubscribe=One-Click`` is RFC 8058's one-click unsubscribe from a
mail client: no form token, marketing email only. The body is parsed with the standard
library (``application/x-www-form-urlencoded``), so no multipart dependency is needed.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from clarion.api.deps import ConnDep, require
from clarion.audit.service import Actor
from clarion.contacts.service import get_contact
from clarion.errors import ClarionError, ValidationFailed
from clarion.preferences import links, page
from clarion.preferences.render import page_html

router = APIRouter(prefix="/v1", tags=["preferences"])
Reader = Annotated[Actor, Depends(require("contacts:read"))]
MAX_FORM = 16_384


def _html(conn: Any, token: str, ws: int, contact: int, **extra: Any) -> str:
    key = links.workspace_key(conn, ws)
    shown = page.view(conn, ws, contact)
    return page_html(
        brand=shown["brand"],
        rows=shown["rows"],
        action=links.PATH + token,
        csrf=links.form_token(key, token),
        language=shown["language"],
        **extra,
    )


def _not_found(exc: ClarionError) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><title>Not found</title><p>{exc}</p>", status_code=404)


@router.get("/preferences/{token}", response_class=HTMLResponse, include_in_schema=False)
def show_page(token: str, conn: ConnDep, saved: int = 0) -> HTMLResponse:
    """Show the contact's subscriptions."""
    try:
        ws, contact = links.read_token(conn, token)
        return HTMLResponse(_html(conn, token, ws, contact, saved=bool(saved)))
    except ClarionError as exc:
        return _not_found(exc)


@router.post("/preferences/{token}", include_in_schema=False)
async def post_page(token: str, request: Request, conn: ConnDep) -> Response:
    """Save the form (or a one-click unsubscribe) and redirect back to the page."""
    body = (await request.body())[:MAX_FORM].decode("utf-8", "replace")
    form = parse_qs(body, keep_blank_values=True)
    try:
        ws, contact = links.read_token(conn, token)
    except ClarionError as exc:
        return _not_found(exc)
    if form.get("List-Unsubscribe") == ["One-Click"]:
        page.one_click_unsubscribe(conn, ws, contact)
        return PlainTextResponse("unsubscribed")
    key = links.workspace_key(conn, ws)
    try:
        links.check_form_token(key, token, (form.get("csrf") or [""])[0])
        action = (form.get("action") or ["save"])[0]
        if action not in ("save", "leave"):
            raise ValidationFailed("unknown action", field="action", value=action)
    except ValidationFailed as exc:
        return HTMLResponse(_html(conn, token, ws, contact, error=str(exc)), status_code=400)
    client = {
        "ip": request.client.host if request.client else "",
        "agent": request.headers.get("user-agent", "")[:120],
    }
    page.apply(conn, ws, contact, form.get("sub", []), leave_all=action == "leave", client=client)
    return RedirectResponse(links.PATH + token + "?saved=1", status_code=303)


@router.get("/contacts/{contact_id}/preference-link")
def preference_link(contact_id: int, actor: Reader, conn: ConnDep) -> dict[str, str]:
    """Return the contact's signed preference link (to put in a message or an email)."""
    get_contact(conn, actor.workspace_id, contact_id)  # NotFound for another workspace's id
    return {"url": links.preference_url(conn, actor.workspace_id, contact_id)}
