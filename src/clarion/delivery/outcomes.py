"""Write send outcomes back to the outbox in bulk, moving failures to the next route.

Every path that ends an attempt (a submit result, a delivery receipt, a validity expiry, a
connector that is down) comes here, so failover follows one policy: the campaign's ``failover``
document. A failed message goes to the next route serving its destination in (priority, id)
order, then to the fallback channel (:mod:`clarion.delivery.fallback`), then is final. Each
write is conditional on the state the caller saw, so a row that moved meanwhile (recalled,
recovered by another worker) is left alone.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import orjson
import sqlalchemy as sa

from clarion.campaigns.tables import campaigns
from clarion.compliance.tables import compliance_send_log
from clarion.contacts.tables import contacts
from clarion.db.sql import in_values
from clarion.db.types import UTCDateTime
from clarion.delivery.bulk import db_time, update_by_id
from clarion.delivery.fallback.policy import FallbackPolicy, policy_of_failover
from clarion.delivery.fallback.tables import message_fallbacks
from clarion.delivery.routes import Route, load_routes, pick_route, routes_by_id
from clarion.delivery.tables import message_attempts, messages, status_check, status_check_sql

log = logging.getLogger("clarion.delivery")

#: Why an attempt ended without success.
CAUSES = (
    "permanent",
    "transient",
    "receipt",
    "expired",
    "connector_down",
    "throttled",
    "timeout",  # a fallback timer: not delivered within the policy's after_s
)
_RESULT = {
    "permanent": "failed_permanent",
    "transient": "failed_transient",
    "throttled": "failed_transient",
    "connector_down": "connector_down",
    "receipt": "undelivered",
    "expired": "expired",
    "timeout": "not_delivered_in_time",
}
_POLICY_FLAG = {
    "permanent": "on_permanent",
    "receipt": "on_receipt_failure",
    "expired": "on_expiry",
}


@dataclass(frozen=True, slots=True)
class Failure:
    """One attempt that did not succeed, for :func:`fail_or_failover`."""

    message_id: int
    cause: str
    code: str | None = None
    claim_token: str | None = None  # set on the dispatch path: only our claim may be written


class Submitted(NamedTuple):
    """One message the provider accepted (a named tuple: one is built per message, and a
    frozen dataclass's ``__init__`` cost several times more)."""

    message_id: int
    claim_token: str
    provider_ids: tuple[str, ...]
    parts: int


def record_submitted(
    conn: sa.Connection,
    done: Sequence[Submitted],
    *,
    worker_id: str,
    now: datetime,
    delivered: Mapping[int, datetime] | None = None,
) -> tuple[int, list[int]]:
    """Mark messages submitted and keep one attempt row per part (receipts match on those);
    return how many were written, and the ids of those that went straight to ``delivered``.

    ``delivered`` maps one-part messages of ``done`` to the time of a DELIVRD receipt that
    came before this write-back (an SMSC may answer the receipt a millisecond after the
    submit): those rows are written ``delivered`` in the same update, with their
    ``submitted`` and ``delivered`` attempts in that order, instead of being rewritten a
    second time when the receipt is applied (each rewrite of an outbox row is a new row
    version and an entry in every index of the table).
    """
    if not done:
        return 0, []
    dlv = delivered or {}
    if conn.dialect.name == "postgresql":
        n, n_dlv = _record_submitted_pg(conn, done, worker_id=worker_id, now=now, delivered=dlv)
    else:
        n = _record_submitted(conn, done, worker_id=worker_id, now=now)
        n_dlv = _deliver_submitted(conn, dlv, now=now) if dlv else []
    extra = [(d.message_id, pid) for d in done for pid in d.provider_ids[1:]]
    if extra:
        _attempts_from_rows(conn, extra, result="submitted", worker_id=worker_id, now=now)
    return n, n_dlv


#: The submit write-back on PostgreSQL: the outbox update, the first part's attempt row and the
#: compliance send log in one statement, the inserts reading the rows the update returns
#: instead of finding 2 x n rows by id again. ``%(rows)s`` is a JSON array of
#: [id, claim token, provider id, delivered at or null]; the ids are inlined as a constant
#: array (see update_by_id) and the state is a check, not a way in (see status_check). A row
#: with a delivery time is written delivered at once and gets its ``delivered`` attempt after
#: every ``submitted`` one (the attempt log is the status history, read in id order).
_SUBMITTED_PG = """
WITH v AS (
    SELECT (e->>0)::bigint AS id, e->>1 AS token, e->>2 AS pid, (e->>3)::timestamptz AS dat
    FROM json_array_elements(%(rows)s::json) AS e
), upd AS (
    UPDATE messages AS t
    SET status = CASE WHEN v.dat IS NULL THEN 'submitted' ELSE 'delivered' END,
        provider_id = v.pid, submitted_at = %(at)s, provider_code = NULL,
        delivered_at = coalesce(v.dat, t.delivered_at)
    FROM v
    WHERE t.id = ANY('{{{ids}}}'::bigint[]) AND t.id = v.id AND t.claim_token = v.token
        AND {status_sending}
    RETURNING t.id, t.workspace_id, t.contact_id, t.campaign_id, t.route_id, t.channel,
        t.purpose, t.provider_id, v.dat IS NOT NULL AS dlv
), attempt AS (
    INSERT INTO message_attempts
        (message_id, campaign_id, route_id, worker_id, result, provider_id, at)
    SELECT id, campaign_id, route_id, %(worker)s, 'submitted', provider_id, %(at)s FROM upd
    UNION ALL
    SELECT id, campaign_id, route_id, NULL, 'delivered', NULL, %(at)s FROM upd WHERE dlv
), sent AS (
    INSERT INTO compliance_send_log
        (workspace_id, contact_id, channel, purpose, sent_at, campaign_id, message_ref)
    SELECT upd.workspace_id, upd.contact_id, upd.channel,
        -- by primary key: estimating one row from upd, the planner joined campaigns by a
        -- nested loop over a scan of the whole table for every message
        coalesce((SELECT c.purpose FROM campaigns AS c WHERE c.id = upd.campaign_id), upd.purpose),
        %(at)s, upd.campaign_id, upd.id::text
    FROM upd
    WHERE upd.contact_id IS NOT NULL
)
SELECT count(*), coalesce(array_agg(id) FILTER (WHERE dlv), '{}') FROM upd
""".replace("{status_sending}", status_check_sql("t", "sending"))


def submitted_pg_statement(
    done: Sequence[Submitted],
    *,
    worker_id: str,
    now: datetime,
    delivered: Mapping[int, datetime],
) -> tuple[str, dict[str, Any]]:
    """Return the PostgreSQL submit write-back for ``done`` and its parameters (the tests
    read its plan)."""
    ids = ",".join(str(int(d.message_id)) for d in done)  # int(): nothing but digits inlined
    rows = orjson.dumps(
        [
            (
                d.message_id,
                d.claim_token,
                d.provider_ids[0] if d.provider_ids else None,
                delivered.get(d.message_id),
            )
            for d in done
        ]
    ).decode()
    sql = _SUBMITTED_PG.replace("{{{ids}}}", "{" + ids + "}")
    return sql, {"rows": rows, "at": now, "worker": worker_id}


def _record_submitted_pg(
    conn: sa.Connection,
    done: Sequence[Submitted],
    *,
    worker_id: str,
    now: datetime,
    delivered: Mapping[int, datetime],
) -> tuple[int, list[int]]:
    sql, params = submitted_pg_statement(done, worker_id=worker_id, now=now, delivered=delivered)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params, prepare=False)
        got = cursor.fetchone()
        return (int(got[0]), [int(i) for i in got[1]]) if got else (0, [])
    finally:
        cursor.close()


def _deliver_submitted(
    conn: sa.Connection, delivered: Mapping[int, datetime], *, now: datetime
) -> list[int]:
    """Move just-submitted messages whose receipt came first on to ``delivered`` (SQLite: after
    the ``submitted`` attempts, so the status history keeps its order); return their ids."""
    ids = [
        int(i)
        for i in conn.execute(
            sa.select(messages.c.id).where(
                in_values(conn, messages.c.id, list(delivered)), status_check("submitted")
            )
        ).scalars()
    ]
    if not ids:
        return []
    times: dict[datetime, Any] = {}
    update_by_id(
        conn,
        "messages",
        "status = 'delivered', delivered_at = v.at",
        status_check_sql("t", "submitted"),
        [("id", "bigint"), ("at", "timestamptz")],
        [(m, times.setdefault(delivered[m], db_time(conn, delivered[m]))) for m in ids],
    )
    log_attempts(conn, in_values(conn, messages.c.id, ids), "delivered", now=now)
    return ids


def _record_submitted(
    conn: sa.Connection, done: Sequence[Submitted], *, worker_id: str, now: datetime
) -> int:
    at = db_time(conn, now)
    n = update_by_id(
        conn,
        "messages",
        "status = 'submitted', provider_id = v.pid, submitted_at = v.at, provider_code = NULL",
        "t.claim_token = v.token AND " + status_check_sql("t", "sending"),
        [("id", "bigint"), ("token", "text"), ("pid", "text"), ("at", "timestamptz")],
        [
            (
                d.message_id,
                d.claim_token,
                d.provider_ids[0] if d.provider_ids else None,
                at,
            )
            for d in done
        ],
    )
    ids = [d.message_id for d in done]
    _log_sends(conn, ids, now)
    # The first part's attempt comes from the outbox row itself; further parts one row each.
    conn.execute(
        message_attempts.insert().from_select(
            ["message_id", "campaign_id", "route_id", "worker_id", "result", "provider_id", "at"],
            sa.select(
                messages.c.id,
                messages.c.campaign_id,
                messages.c.route_id,
                sa.literal(worker_id),
                sa.literal("submitted"),
                messages.c.provider_id,
                sa.literal(now, type_=message_attempts.c.at.type),
            ).where(in_values(conn, messages.c.id, ids), status_check("submitted")),
        )
    )
    return n


def log_attempts(
    conn: sa.Connection, where: sa.ColumnElement[bool], result: str, *, now: datetime
) -> None:
    """Append an attempt with ``result`` for each message ``where`` selects, set-based (one
    ``INSERT ... SELECT``). The attempt log is each message's status history and the source of
    the status webhooks, so every status change writes one."""
    conn.execute(
        message_attempts.insert().from_select(
            ["message_id", "campaign_id", "route_id", "result", "at"],
            sa.select(
                messages.c.id,
                messages.c.campaign_id,
                messages.c.route_id,
                sa.literal(result),
                sa.literal(now, type_=message_attempts.c.at.type),
            ).where(where),
        )
    )


def _log_sends(conn: sa.Connection, ids: Sequence[int], now: datetime) -> None:
    """Tell compliance what was sent (frequency caps and first-message rules count these).

    One ``INSERT ... SELECT`` in the database: the rows never come to Python, and PostgreSQL
    gets one statement per batch rather than one INSERT per message.
    """
    source = (
        sa.select(
            messages.c.workspace_id,
            messages.c.contact_id,
            messages.c.channel,
            # a send-API message carries its own purpose (no campaign)
            sa.func.coalesce(campaigns.c.purpose, messages.c.purpose),
            sa.literal(now, UTCDateTime()),
            messages.c.campaign_id,
            sa.cast(messages.c.id, sa.String(100)),
        )
        .outerjoin(campaigns, campaigns.c.id == messages.c.campaign_id)
        .where(
            in_values(conn, messages.c.id, ids),
            status_check("submitted"),
            messages.c.contact_id.is_not(None),
        )
    )
    log = compliance_send_log.c
    conn.execute(
        compliance_send_log.insert().from_select(
            [
                log.workspace_id,
                log.contact_id,
                log.channel,
                log.purpose,
                log.sent_at,
                log.campaign_id,
                log.message_ref,
            ],
            source,
        )
    )


def _attempts_from_rows(
    conn: sa.Connection,
    items: Sequence[tuple[int, str | None]],
    *,
    result: str,
    worker_id: str | None,
    now: datetime,
    code: str | None = None,
) -> None:
    """Insert attempt rows for messages, copying campaign and route from the outbox."""
    if not items:
        return
    ids = sorted({i for i, _ in items})
    info = {
        int(r.id): (r.campaign_id, r.route_id)
        for r in conn.execute(
            sa.select(messages.c.id, messages.c.campaign_id, messages.c.route_id).where(
                messages.c.id.in_(ids)
            )
        )
    }
    conn.execute(
        message_attempts.insert(),
        [
            {
                "message_id": mid,
                "campaign_id": info[mid][0],
                "route_id": info[mid][1],
                "worker_id": worker_id,
                "result": result,
                "provider_id": pid,
                "provider_code": code,
                "at": now,
            }
            for mid, pid in items
            if mid in info
        ],
    )


def fail_or_failover(
    conn: sa.Connection,
    failures: Sequence[Failure],
    *,
    now: datetime,
    expect: Sequence[str],
    worker_id: str | None = None,
) -> Counter[str]:
    """Apply failures: requeue on the next route, retry later, fall back, or end the message.

    Cause ``timeout`` (a fallback timer, :mod:`clarion.delivery.fallback`) only ever falls
    back; when it cannot, the message is left as it is. Return counts by what happened:
    ``failover``, ``retry``, ``fallback``, ``failed``, ``expired``, ``no_fallback``.
    """
    if not failures:
        return Counter()
    rows = _failure_rows(conn, [f.message_id for f in failures])
    cache = _FallbackCache(conn, rows)
    route_cache: dict[tuple[int, str | None], list[Route]] = {}
    all_routes: dict[int, dict[int, Route]] = {}

    def candidates(ws: int, channel: str) -> list[Route]:
        key = (ws, channel)
        if key not in route_cache:
            route_cache[key] = load_routes(conn, ws, channel)
        return route_cache[key]

    outcome: Counter[str] = Counter()
    updates: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []
    timers: list[dict[str, Any]] = []
    fired: list[dict[str, Any]] = []
    for f in failures:
        row = rows.get(f.message_id)
        if row is None:
            continue
        ws = int(row.workspace_id)
        if ws not in all_routes:
            all_routes[ws] = routes_by_id(conn, ws)
        policy = dict(row.failover or {})
        fb = _fallback_policy(row)
        current = all_routes[ws].get(row.route_id) if row.route_id is not None else None
        country = row.phone_region or row.country
        upd = {
            "b_id": f.message_id,
            "b_token": f.claim_token,
            "u_status": "queued",
            "u_route_id": row.route_id,
            "u_channel": row.channel,
            "u_destination": row.destination,
            "u_body": row.body,
            "u_send_at": now,
            "u_provider_id": None,
            "u_provider_code": f.code,
            "u_failed_at": None,
            "u_expired_at": None,
        }
        timeout = f.cause == "timeout"
        retry_same = f.cause in ("transient", "throttled") and row.attempts <= int(
            policy.get("max_transient", 3)
        )
        may_failover = not timeout and (
            f.cause in ("transient", "throttled", "connector_down")
            or bool(policy.get(_POLICY_FLAG.get(f.cause, ""), True))
        )
        nxt = None
        if not retry_same and may_failover:
            nxt = pick_route(
                candidates(ws, row.channel),
                row.destination,
                country,
                row.phone_carrier,
                after=current,
            )
        alt = None
        fallback_at = now
        if (
            fb is not None
            and fb.channel != row.channel
            and (timeout or (may_failover and fb.on_failure))
            and not retry_same
            and nxt is None
        ):
            alt_to = fb.to or (row.email if fb.channel == "email" else row.phone)
            alt_route = pick_route(candidates(ws, fb.channel), alt_to, country) if alt_to else None
            why = "fallback" if alt_route else ("no_route" if alt_to else "no_destination")
            verdict = cache.decision(row, fb, now) if alt_route is not None else None
            if verdict is not None and not verdict[0]:
                why, alt_route = f"blocked:{verdict[2]}"[:30], None
                outcome["fallback_blocked"] += 1
            body = _fallback_body(conn, ws, row, fb, cache) if alt_route is not None else None
            if alt_route is not None and body is None:
                why = "content_error"
            alt = (alt_to, alt_route, body) if alt_route is not None and body is not None else None
            if alt is not None and verdict is not None:
                fallback_at = max(now, verdict[1])
            if row.has_timer:
                timers.append({"m": f.message_id, "o": why})
            elif timeout:
                # A campaign timer: remember that it fired, so the scan never picks it again.
                fired.append(
                    {
                        "message_id": f.message_id,
                        "workspace_id": ws,
                        "policy": fb.model_dump(exclude_none=True),
                        "due_at": None,
                        "fired_at": now,
                        "outcome": why,
                    }
                )
        if timeout and alt is None:
            outcome["no_fallback"] += 1
            continue
        if retry_same:
            upd["u_send_at"] = now + timedelta(seconds=int(policy.get("retry_after_s", 30)))
            outcome["retry"] += 1
        elif nxt is not None:
            upd["u_route_id"] = nxt.id
            outcome["failover"] += 1
        elif alt is not None and fb is not None:
            upd.update(
                u_route_id=alt[1].id, u_channel=fb.channel, u_destination=alt[0], u_body=alt[2]
            )
            upd["u_send_at"] = fallback_at  # quiet hours of the new channel may move it
            outcome["fallback"] += 1
        elif f.cause == "connector_down" and row.attempts <= int(policy.get("max_transient", 3)):
            upd["u_send_at"] = now + timedelta(seconds=int(policy.get("retry_after_s", 30)))
            outcome["retry"] += 1
        elif f.cause == "expired":
            upd.update(u_status="expired", u_expired_at=now)
            outcome["expired"] += 1
        else:
            upd.update(u_status="failed", u_failed_at=now)
            outcome["failed"] += 1
        updates.append(upd)
        attempts.append(
            {
                "message_id": f.message_id,
                "campaign_id": row.campaign_id,
                "route_id": row.route_id,
                "worker_id": worker_id,
                "result": _RESULT.get(f.cause, f.cause),
                "provider_id": None,
                "provider_code": f.code,
                "at": now,
            }
        )
    where = [messages.c.id == sa.bindparam("b_id"), status_check(*expect)]
    if any(f.claim_token for f in failures):
        where.append(messages.c.claim_token == sa.bindparam("b_token"))
    if updates:
        conn.execute(
            messages.update()
            .where(*where)
            .values(
                status=sa.bindparam("u_status"),
                route_id=sa.bindparam("u_route_id"),
                channel=sa.bindparam("u_channel"),
                destination=sa.bindparam("u_destination"),
                body=sa.bindparam("u_body"),
                send_at=sa.bindparam("u_send_at", type_=messages.c.send_at.type),
                provider_id=sa.bindparam("u_provider_id"),
                provider_code=sa.bindparam("u_provider_code"),
                failed_at=sa.bindparam("u_failed_at", type_=messages.c.failed_at.type),
                expired_at=sa.bindparam("u_expired_at", type_=messages.c.expired_at.type),
            ),
            updates,
        )
        conn.execute(message_attempts.insert(), attempts)
    if fired:
        conn.execute(message_fallbacks.insert(), fired)
    if timers:
        conn.execute(
            message_fallbacks.update()
            .where(message_fallbacks.c.message_id == sa.bindparam("m"))
            .values(
                due_at=None,
                fired_at=sa.literal(now, type_=message_fallbacks.c.fired_at.type),
                outcome=sa.bindparam("o"),
            ),
            timers,
        )
    return outcome


def _failure_rows(conn: sa.Connection, ids: Sequence[int]) -> dict[int, Any]:
    """Return what failover needs of each message: campaign policy, contact, fallback policy.

    Outer joins: a send-API message has no campaign and may have no contact.
    """
    q = (
        sa.select(
            messages.c.id,
            messages.c.workspace_id,
            messages.c.campaign_id,
            messages.c.contact_id,
            messages.c.route_id,
            messages.c.channel,
            messages.c.destination,
            messages.c.body,
            messages.c.attempts,
            campaigns.c.failover,
            campaigns.c.purpose.label("campaign_purpose"),
            messages.c.purpose.label("msg_purpose"),
            messages.c.kind,
            contacts.c.phone_region,
            contacts.c.country,
            contacts.c.phone_carrier,
            contacts.c.email,
            contacts.c.phone,
            message_fallbacks.c.policy.label("fallback"),
            message_fallbacks.c.message_id.is_not(None).label("has_timer"),
        )
        .select_from(messages)
        .outerjoin(campaigns, campaigns.c.id == messages.c.campaign_id)
        .outerjoin(contacts, contacts.c.id == messages.c.contact_id)
        .outerjoin(message_fallbacks, message_fallbacks.c.message_id == messages.c.id)
        .where(in_values(conn, messages.c.id, list(ids)))
    )
    return {int(r.id): r for r in conn.execute(q)}


def _fallback_body(
    conn: sa.Connection, ws: int, row: Any, fb: FallbackPolicy, cache: _FallbackCache
) -> str | None:
    """Render the fallback content; a template that cannot render means no fallback.

    Caught here so one broken template never fails the write-back of a whole batch.
    """
    from clarion.delivery.fallback.service import render_content
    from clarion.errors import ClarionError

    contact = cache.contact(row.contact_id)
    try:
        return render_content(conn, ws, contact, fb, row.body, templates=cache.templates)
    except ClarionError as exc:
        log.warning("message %s: fallback content does not render: %s", row.id, exc)
        return None


def _screened_text(body: str | None) -> str:
    """Return the text compliance screens: an email document's text part, or the SMS text."""
    from clarion.channels.email.content import EmailContent

    return EmailContent.from_body(body).text if body else ""


class _FallbackCache:
    """Contacts and saved templates of one batch, loaded once for all its fallbacks."""

    def __init__(self, conn: sa.Connection, rows: dict[int, Any]) -> None:
        self.conn = conn
        self.rows = rows
        self.contacts: dict[int, dict[str, Any]] | None = None
        self.templates: dict[tuple[int, str, str], Any] = {}
        self.decisions: dict[tuple[int, str, str, str], dict[int, Any]] = {}

    def decision(self, row: Any, fb: FallbackPolicy, now: datetime) -> tuple[bool, datetime, str]:
        """Return whether compliance lets the fallback go (consent and suppression on the new
        channel, quiet hours, caps), when, and the first blocking reason.

        Evaluated once per (workspace, purpose, channel, text) for every contact of the batch.
        A message without a contact (a bare address) has nothing to check here.
        """
        from clarion.compliance import evaluate
        from clarion.compliance.engine import PURPOSES

        if row.contact_id is None:
            return True, now, ""
        purpose = next(
            (p for p in (row.msg_purpose, row.campaign_purpose) if p in PURPOSES),
            "transactional" if row.kind == "transactional" else "marketing",
        )
        key = (int(row.workspace_id), purpose, fb.channel, row.body or "")
        if key not in self.decisions:
            ids = [
                int(r.contact_id)
                for r in self.rows.values()
                if r.contact_id is not None and int(r.workspace_id) == key[0]
            ]
            self.decisions[key] = evaluate(
                self.conn, key[0], ids, _screened_text(row.body), purpose, fb.channel, now
            )
        d = self.decisions[key].get(int(row.contact_id))
        if d is None:
            return False, now, "unknown_contact"
        first = next((r.code for r in d.reasons if r.severity == "block"), "")
        return d.allowed, d.send_at, first

    def contact(self, contact_id: int | None) -> dict[str, Any] | None:
        from clarion.delivery.fallback.service import load_contacts

        if contact_id is None:
            return None
        if self.contacts is None:
            ids = sorted({int(r.contact_id) for r in self.rows.values() if r.contact_id})
            self.contacts = load_contacts(self.conn, ids)
        return self.contacts.get(int(contact_id))


def _fallback_policy(row: Any) -> FallbackPolicy | None:
    """Return the message's own fallback policy, else its campaign's."""
    if row.fallback:
        return FallbackPolicy.model_validate(row.fallback)
    return policy_of_failover(row.failover)
