"""FastAPI dependencies: the engine, the authenticated actor, scope checks."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, Request
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.compliance.cache import TTLCache
from clarion.db.engine import read_only
from clarion.errors import AuthError
from clarion.workspaces.service import authenticate, require_scope


def get_engine(request: Request) -> Engine:
    """Return the engine the app was created with."""
    eng: Engine = request.app.state.engine
    return eng


EngineDep = Annotated[Engine, Depends(get_engine)]


def get_conn(engine: EngineDep) -> Iterator[sa.Connection]:
    """Yield a connection in a transaction, committed when the route returns without error."""
    with engine.begin() as conn:
        yield conn


# scope="function": commit before the response is sent, so a client that reads right after a 2xx
# sees the change (the default "request" scope would commit after the response went out).
ConnDep = Annotated[sa.Connection, Depends(get_conn, scope="function")]


def current_actor(request: Request, engine: EngineDep) -> Actor:
    """Return the actor of the request's ``Authorization: Bearer`` API key."""
    return actor_for(engine, request.headers.get("authorization", ""))


def actor_for(engine: Engine, header: str) -> Actor:
    """Return the actor of an ``Authorization`` header's API key, or raise AuthError."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("send an API key as 'Authorization: Bearer <key>'", field="authorization")
    token = token.strip()

    def load() -> Actor:
        with read_only(engine) as conn:
            return authenticate(conn, token)

    # Keyed by a digest, not the secret itself; see clarion.compliance.cache for how a
    # revocation reaches the cache (at once in this process, within 2 s in another).
    return _ACTORS.get(engine, hashlib.sha256(token.encode()).digest(), load)


#: API key -> actor. A failed lookup raises and is not cached.
_ACTORS: TTLCache[Actor] = TTLCache("api_keys")


def require(scope: str) -> Callable[[Actor], Actor]:
    """Return a dependency that yields the actor if it holds ``scope``."""

    def dep(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
        require_scope(actor, scope)
        return actor

    return dep
