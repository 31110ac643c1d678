"""Build the channels a worker drives from the workspace's routes and connector settings.

A route names its connector; the connector's settings live with the channel that implements
it (SMPP: ``clarion.channels.smpp.service``). A route whose connector is unknown is reported and
skipped, so one misconfigured route does not stop the others.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from clarion.channels.base import Channel, ReportCallback
from clarion.delivery.tables import routes
from clarion.errors import NotFound

log = logging.getLogger("clarion.worker")


def route_connectors(conn: sa.Connection, workspace_id: int) -> list[tuple[str, str]]:
    """Return the distinct (channel, connector) pairs of the workspace's active routes."""
    rows = conn.execute(
        sa.select(routes.c.channel, routes.c.connector)
        .where(routes.c.workspace_id == workspace_id, routes.c.active.is_(True))
        .distinct()
        .order_by(routes.c.connector)
    )
    return [(str(ch), str(name)) for ch, name in rows]


def build_channels(
    conn: sa.Connection, workspace_id: int, on_report: ReportCallback
) -> dict[str, Channel]:
    """Return a channel per connector named by an active route (not yet opened)."""
    from clarion.channels.smpp.client import Connector
    from clarion.channels.smpp.service import connector_config

    out: dict[str, Channel] = {}
    for channel, name in route_connectors(conn, workspace_id):
        if channel != "sms":
            log.warning("no %s channel implementation for connector %s; skipped", channel, name)
            continue
        try:
            config = connector_config(conn, workspace_id, name)
        except NotFound:
            log.warning("route names connector %s, which is not configured; skipped", name)
            continue
        out[name] = Connector(config, on_report=on_report)
    return out
