"""Prometheus metrics of delivery.

Counters live in the process that does the work (the worker); gauges that describe the whole
queue are read from the database at scrape time, so any API process can answer ``/metrics``
for the cluster and a restart loses nothing.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import REGISTRY
from sqlalchemy.engine import Engine

from clarion.db.types import utcnow
from clarion.delivery.tables import message_attempts, messages, routes, worker_leases

_HOUR = timedelta(hours=1)

SENT = Counter(
    "clarion_messages_submitted", "Messages accepted by a provider", ["route", "connector"]
)
SEND_ERRORS = Counter(
    "clarion_send_errors", "Send attempts that failed", ["route", "connector", "code"]
)
RECEIPTS = Counter("clarion_receipts", "Final delivery receipts received", ["state"])
JOB_CPU = Counter(
    "clarion_worker_job_cpu_seconds",
    "CPU seconds the worker's periodic jobs used (clarion.delivery.hooks)",
    ["job"],
)
CONNECTOR_UP = Gauge(
    "clarion_connector_up", "1 if this process has the connector open", ["connector"]
)


def database_gauges(engine: Engine) -> CollectorRegistry:
    """Return a registry of gauges read now from the database (queue depth, leases, errors)."""
    reg = CollectorRegistry()
    depth = Gauge("clarion_queue_messages", "Outbox messages by status", ["status"], registry=reg)
    routed = Gauge(
        "clarion_route_attempts_last_hour",
        "Attempts per route and result in the last hour",
        ["route", "result"],
        registry=reg,
    )
    leased = Gauge(
        "clarion_connector_leased",
        "1 if a live worker holds the connector",
        ["connector"],
        registry=reg,
    )
    now = utcnow()
    with engine.connect() as conn:
        for status, n in conn.execute(
            sa.select(messages.c.status, sa.func.count()).group_by(messages.c.status)
        ):
            depth.labels(status).set(n)
        for name, result, n in conn.execute(
            sa.select(routes.c.name, message_attempts.c.result, sa.func.count())
            .join(routes, routes.c.id == message_attempts.c.route_id)
            .where(message_attempts.c.at >= now.replace(microsecond=0) - _HOUR)
            .group_by(routes.c.name, message_attempts.c.result)
        ):
            routed.labels(name, result).set(n)
        for key, expires in conn.execute(
            sa.select(worker_leases.c.key, worker_leases.c.expires_at).where(
                worker_leases.c.key.startswith("connector:")
            )
        ):
            leased.labels(key.split(":", 1)[1]).set(1 if expires >= now else 0)
    return reg


def render(engine: Engine) -> bytes:
    """Return the Prometheus text exposition: process counters plus database gauges."""
    return generate_latest(REGISTRY) + generate_latest(database_gauges(engine))
