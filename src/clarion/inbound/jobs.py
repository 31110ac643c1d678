"""What the inbound feature runs inside the delivery worker (see ``clarion.delivery.hooks``).

- ``keywords`` (inbound handler): store the MOs the worker's channels received, then handle
  each in its own transaction.
- ``inbound.retry`` (periodic): handle MOs left ``received`` by a crash or an error.
- ``inbound.optin_expiry`` (periodic): expire double opt-in requests nobody confirmed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.channels.base import Inbound
from clarion.delivery import hooks
from clarion.inbound import optin, service
from clarion.inbound.receive import InboundIn

#: A row younger than this may still be in the hands of the worker that stored it.
RETRY_AFTER = timedelta(seconds=30)


@hooks.on_inbound("keywords")
def on_inbound(engine: Engine, workspace_id: int | None, batch: Sequence[Inbound]) -> None:
    """Store and handle the MOs a worker (SMPP) or a provider callback (HTTP) received."""
    from clarion.channels.smpp.tables import smpp_connectors

    names = sorted({m.connector for m in batch if m.connector})
    with engine.connect() as conn:
        smpp = set(
            conn.execute(
                sa.select(smpp_connectors.c.name).where(smpp_connectors.c.name.in_(names))
            ).scalars()
        )
    items = [InboundIn.from_channel(m, "smpp" if m.connector in smpp else "http") for m in batch]
    service.receive(engine, items, workspace_id=workspace_id)


@hooks.periodic("inbound.retry", every_s=30)
def retry_unhandled(engine: Engine, worker_id: str) -> int:
    """Handle MOs still waiting after ``RETRY_AFTER``; return how many were handled."""
    with engine.connect() as conn:
        ids = service.unhandled(conn, RETRY_AFTER)
    return len(service.handle_pending(engine, ids))


@hooks.periodic("inbound.optin_expiry", every_s=60)
def expire_optins(engine: Engine, worker_id: str) -> int:
    """Expire double opt-in requests past their time; return how many."""
    with engine.begin() as conn:
        return optin.expire_due(conn)
