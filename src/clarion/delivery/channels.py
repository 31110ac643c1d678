"""Build the channels a worker drives from the workspace's routes and connector settings.

A route names its connector; the connector's settings live with the channel that implements
it (SMPP: ``clarion.channels.smpp.service``; HTTP providers and SMTP:
``clarion.channels.service`` and the kind registry). A route whose connector is unknown is
reported and skipped, so one misconfigured route does not stop the others.
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
    """Return a channel per connector named by an active route (not yet opened).

    A name is looked up among the SMPP connectors first, then among the other kinds
    (``clarion.channels.registry``); a disabled connector, or one whose kind carries another
    channel than its route (an SMTP connector on an SMS route), is reported and skipped.
    """
    from clarion.channels.registry import provider
    from clarion.channels.service import connector_config as http_config
    from clarion.channels.smpp.client import Connector
    from clarion.channels.smpp.service import connector_config

    out: dict[str, Channel] = {}
    for channel, name in route_connectors(conn, workspace_id):
        try:
            out[name] = Connector(connector_config(conn, workspace_id, name), on_report=on_report)
            continue
        except NotFound:
            pass
        try:
            cfg = http_config(conn, workspace_id, name)
        except NotFound:
            log.warning("route names connector %s, which is not configured; skipped", name)
            continue
        prov = provider(cfg.kind)
        if prov.channel != channel:
            log.warning(
                "connector %s (%s) carries %s, not %s; skipped",
                name,
                cfg.kind,
                prov.channel,
                channel,
            )
            continue
        if not _enabled(conn, workspace_id, name):
            log.warning("connector %s is disabled; skipped", name)
            continue
        out[name] = prov.build(cfg, on_report)
    return out


def _enabled(conn: sa.Connection, workspace_id: int, name: str) -> bool:
    from clarion.channels.service import get_connector

    return bool(get_connector(conn, workspace_id, name)["enabled"])
