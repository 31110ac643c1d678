"""The FastAPI application factory."""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine

import clarion.api.routes
from clarion import __version__
from clarion.errors import ClarionError

#: Route modules whose routes are matched first (per-request hot paths).
HOT_ROUTES = ("messages",)


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {}
    loc = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    return JSONResponse(
        status_code=422,
        content={
            "error": {
                "code": "validation_failed",
                "message": f"{loc}: {first.get('msg', 'invalid')}" if loc else "invalid request",
                "fields": {
                    "field": loc,
                    "errors": [
                        {
                            "field": ".".join(str(p) for p in e.get("loc", ())),
                            "message": e.get("msg"),
                        }
                        for e in errors
                    ],
                },
            }
        },
    )


def _clarion_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ClarionError)
    return JSONResponse(status_code=exc.http_status, content=exc.to_dict())


def create_app(engine: Engine | None = None) -> FastAPI:
    """Return the API app bound to ``engine`` (the configured one by default)."""
    if engine is None:
        from clarion.db.engine import get_engine

        engine = get_engine()
    app = FastAPI(title="Clarion", version=__version__, docs_url="/docs")
    app.state.engine = engine
    app.add_exception_handler(ClarionError, _clarion_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # The router tries routes in the order they were added: the hot paths go first so a send
    # does not first fail to match a hundred other routes.
    names = sorted(i.name for i in pkgutil.iter_modules(clarion.api.routes.__path__))
    for name in sorted(names, key=lambda n: (n not in HOT_ROUTES, n)):
        module = importlib.import_module(f"clarion.api.routes.{name}")
        router = getattr(module, "router", None)
        if router is not None:
            app.include_router(router)
        for middleware in getattr(module, "middleware", ()):  # e.g. the short-link fast path
            app.add_middleware(middleware)
    return app
