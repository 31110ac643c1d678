"""Callback endpoints providers call: ``/v1/callbacks/{callback_key}/{status|inbound}``.

No API key: providers cannot send one. The unguessable ``callback_key`` of the connector names
it, and each provider's own signature is verified where it signs (Twilio, Vonage signed
webhooks, Engagelab's X-CALLBACK-ID). The route only turns the HTTP request into a
:class:`CallbackRequest`; :mod:`clarion.channels.callbacks` does the rest.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from clarion.api.deps import EngineDep
from clarion.channels.callbacks import handle_callback
from clarion.channels.http.base import CallbackRequest

router = APIRouter(prefix="/v1/callbacks", tags=["provider callbacks"])


@router.api_route("/{callback_key}/{event}", methods=["GET", "POST"], include_in_schema=True)
async def provider_callback(
    callback_key: str, event: str, request: Request, engine: EngineDep
) -> Response:
    """Receive a provider's status report (DLR) or inbound message."""
    body = await request.body()
    ctype = request.headers.get("content-type", "")
    form: dict[str, str] = {}
    if "application/x-www-form-urlencoded" in ctype:
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    req = CallbackRequest(
        method=request.method,
        url=str(request.url),
        headers={k.lower(): v for k, v in request.headers.items()},
        query=dict(request.query_params),
        form=form,
        body=body,
    )
    result = await run_in_threadpool(handle_callback, engine, callback_key, event, req)
    return Response(result.body, status_code=result.status_code, media_type=result.media_type)
