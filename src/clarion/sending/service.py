"""The send API's core: validate, check compliance, render, and persist one message as queued.

A sent message is a row of the delivery outbox (``messages``) with no campaign, so one queue,
one dispatcher, one receipt path and one failover policy serve campaigns and triggered sends
alike. What differs is the lane: transactional messages are claimed first and on their own by
the worker (:mod:`clarion.delivery.worker`), so a million-message campaign never delays an
order confirmation.

Idempotency: a key is unique per workspace (a unique index, not a read-then-write check), and
the row keeps a hash of the request it was first used for, so the same key with the same
request returns the same message and a different request under that key is a conflict.

No audit row is written per message: the outbox row itself records who (``source``), what,
when and to whom; one audit row per send would double the writes of the hot path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from clarion.audit.service import Actor
from clarion.compliance import Message
from clarion.compliance.cache import TTLCache
from clarion.compliance.engine import INPUT_COLUMNS, decide_one, recipient_inputs
from clarion.compliance.explain import check_text
from clarion.compliance.settings import workspace_rules
from clarion.compliance.suppression import suppressed
from clarion.contacts.phones import PhoneError, parse_phone
from clarion.contacts.tables import contact_tags
from clarion.db.prepared import Prepared
from clarion.db.types import utcnow
from clarion.delivery.fallback import attach, parse_policy
from clarion.delivery.routes import Route, load_routes, pick_route
from clarion.delivery.tables import messages
from clarion.errors import ClarionError, Conflict, NotFound, ValidationFailed
from clarion.messages.encoding import count
from clarion.messages.lint import ContextSchema
from clarion.messages.service import load_template
from clarion.messages.templates import CompiledTemplate, compile_template, contact_context
from clarion.sending.queries import get_message, list_messages, public_message

__all__ = [
    "Enqueued",
    "SendRefused",
    "SendRequest",
    "enqueue",
    "get_message",
    "list_messages",
    "send_batch",
    "send_message",
]

KINDS = ("transactional", "marketing")
CHANNELS = ("sms", "email")
#: How long a message may wait and travel before it is given up, unless the request says.
DEFAULT_VALIDITY_S = 86_400
MAX_VALIDITY_S = 7 * 86_400
MAX_BATCH = 1000
TRANSACTIONAL_LANE = "transactional"
BULK_LANE = "bulk"


@dataclass(frozen=True, slots=True)
class SendRequest:
    """One message to send, as the API, journeys and inbound replies describe it."""

    channel: str = "sms"  # "sms" | "email"
    contact_id: int | None = None  # one of contact_id / to
    to: str | None = None  # E.164 number or email address
    text: str | None = None  # one of text / template
    template: str | None = None  # a saved template's name (clarion.messages)
    variables: Mapping[str, Any] = field(default_factory=dict)
    kind: str = "transactional"  # "transactional" | "marketing"
    purpose: str | None = None  # consent purpose for marketing (default "marketing")
    sender: str | None = None
    validity: timedelta | None = None
    send_at: datetime | None = None  # None: now
    callback_url: str | None = None
    idempotency_key: str | None = None
    source: str = "api"  # "api" | "journey:<id>" | "inbound" | ...
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: Cross-channel fallback (:mod:`clarion.delivery.fallback`), e.g. {"channel": "email",
    #: "after_s": 600}: another channel when this one fails or is not delivered in time.
    fallback: Mapping[str, Any] | None = None


class SendRefused(ClarionError):
    """Compliance (or routing) refused the send; ``fields["reasons"]`` says which rules."""

    code = "send_refused"
    http_status = 422


@dataclass(frozen=True, slots=True)
class Enqueued:
    """The message as the API shows it, and whether this call created it."""

    message: dict[str, Any]
    created: bool


def send_message(conn: sa.Connection, actor: Actor, req: SendRequest) -> dict[str, Any]:
    """Validate, check compliance, render, persist as queued; return the message as the API
    shows it (id, status, channel, to, parts, encoding, ...). Same idempotency key -> the same
    message; same key with a different request -> Conflict."""
    return enqueue(conn, actor, req).message


def send_batch(
    conn: sa.Connection, actor: Actor, reqs: Sequence[SendRequest]
) -> list[dict[str, Any]]:
    """Send each request on its own: a refused one becomes ``{"index", "error"}`` in place and
    the others are still queued (each in a savepoint of the caller's transaction)."""
    if len(reqs) > MAX_BATCH:
        raise ValidationFailed(
            f"at most {MAX_BATCH} messages per batch", field="messages", value=len(reqs)
        )
    out: list[dict[str, Any]] = []
    for i, req in enumerate(reqs):
        try:
            with conn.begin_nested():
                out.append(enqueue(conn, actor, req).message)
        except ClarionError as exc:
            out.append({"index": i, **exc.to_dict()})
    return out


def enqueue(conn: sa.Connection, actor: Actor, req: SendRequest) -> Enqueued:
    """Do what :func:`send_message` does, also saying whether the message is new."""
    ws = actor.workspace_id
    now = utcnow()
    _check(req, now)
    fallback = parse_policy(req.fallback)
    digest = request_hash(req)
    if req.idempotency_key is None:
        return _enqueue(conn, ws, req, now, digest, fallback)
    # The key is looked up only when the insert finds it taken or the send is refused: a
    # replayed key answers with its message even if the same send would be refused now.
    try:
        return _enqueue(conn, ws, req, now, digest, fallback)
    except ClarionError:
        found = _by_key(conn, ws, req.idempotency_key)
        if found is None:
            raise
        return Enqueued(_same_request(found, digest, req.idempotency_key), False)


def _enqueue(
    conn: sa.Connection,
    ws: int,
    req: SendRequest,
    now: datetime,
    digest: str,
    fallback: Any,
) -> Enqueued:
    region, ws_tz = _workspace(conn, ws)
    try:
        template = _template(conn, ws, req)
    except ValidationFailed as exc:  # a text that does not compile (a template's is linted)
        exc.fields.setdefault("field", "text")
        raise
    uses_tags = "tags" in (_source_of(template) or "") or bool(getattr(template, "variants", None))
    purpose = req.purpose or ("transactional" if req.kind == "transactional" else "marketing")
    send_at = req.send_at or now
    # One statement reads the contact and what compliance needs about it (consent, suppression).
    inputs, destination = _recipient(conn, ws, req, region, purpose, send_at, tags=uses_tags)
    contact = _contact_of(inputs)
    context = contact_context(
        contact or {"phone": destination if req.channel == "sms" else None, "email": None},
        extra=dict(req.variables),
        now=now,
        default_timezone=ws_tz,
    )
    try:
        body = template.render(context)
    except ClarionError as exc:
        exc.fields.setdefault("field", "template" if req.template else "text")
        raise
    if not body.strip():
        raise ValidationFailed("the message renders to an empty text", field="text", value=body)
    send_at = _compliance(conn, ws, req, purpose, inputs, destination, body, template, send_at)
    encoding, parts = _parts(req.channel, body)
    country = (contact or {}).get("phone_region") or (contact or {}).get("country")
    carrier = (contact or {}).get("phone_carrier")
    if contact is None and req.channel == "sms":
        info = parse_phone(destination, region)
        country, carrier = (
            (info.region, info.carrier) if not isinstance(info, PhoneError) else (None, None)
        )
    route = pick_route(_routes(conn, ws, req.channel), destination, country, carrier)
    if route is None:
        raise SendRefused(
            f"no active {req.channel} route serves {destination}",
            reasons=[{"code": "no_route", "rule": "routing", "detail": country or "?"}],
            to=destination,
        )
    validity_s = int(req.validity.total_seconds()) if req.validity else DEFAULT_VALIDITY_S
    values = {
        "workspace_id": ws,
        "campaign_id": None,
        "contact_id": (contact or {}).get("id"),
        "holdout": False,
        "status": "queued",
        "channel": req.channel,
        "destination": destination,
        "route_id": route.id,
        "send_at": send_at,
        "body": body,
        "encoding": encoding,
        "parts": parts,
        "cost": parts * route.price_per_part,
        "attempts": 0,
        "uncertain": False,
        "queued_at": now,
        "lane": TRANSACTIONAL_LANE if req.kind == "transactional" else BULK_LANE,
        "kind": req.kind,
        "purpose": purpose,
        "source": req.source[:100],
        "idempotency_key": req.idempotency_key,
        "request_hash": digest,
        "callback_url": req.callback_url,
        "sender": req.sender,
        "template": req.template,
        "validity_s": validity_s,
        "valid_until": send_at + timedelta(seconds=validity_s),
        "meta": dict(req.metadata),
    }
    if req.idempotency_key is None:
        mid = int(_INSERT.scalar(conn, values))
    else:
        # Two requests with one key at once: the unique index lets one in; the other's insert
        # waits for it (PostgreSQL) or for the write lock (SQLite), inserts nothing, and reads
        # the winner's row. No savepoint, no read before the write.
        inserted = _INSERT_ONCE[conn.dialect.name].scalar(conn, values)
        if inserted is None:
            found = _by_key(conn, ws, req.idempotency_key)
            if found is None:  # the winner rolled back between our insert and read: rare
                raise Conflict(
                    "a concurrent request with this Idempotency-Key did not complete; retry",
                    code="idempotency_retry",
                    field="idempotency_key",
                    value=req.idempotency_key,
                )
            return Enqueued(_same_request(found, digest, req.idempotency_key), False)
        mid = int(inserted)
    if fallback is not None:
        attach(conn, ws, mid, fallback, due_from=send_at)
    return Enqueued(public_message({**values, "id": mid}), True)


# -- validation ----------------------------------------------------------------------------------
def _check(req: SendRequest, now: datetime) -> None:
    if req.channel not in CHANNELS:
        raise ValidationFailed(
            "unknown channel", field="channel", value=req.channel, allowed=list(CHANNELS)
        )
    if req.kind not in KINDS:
        raise ValidationFailed("unknown kind", field="kind", value=req.kind, allowed=list(KINDS))
    if (req.contact_id is None) == (req.to is None):
        raise ValidationFailed("give exactly one of contact_id and to", field="to", value=req.to)
    if (req.text is None) == (req.template is None):
        raise ValidationFailed("give exactly one of text and template", field="text")
    if req.text is not None and not req.text.strip():
        raise ValidationFailed("text is empty", field="text", value=req.text)
    if req.kind == "transactional" and req.purpose not in (None, "transactional"):
        raise ValidationFailed(
            "a transactional message has purpose 'transactional'",
            field="purpose",
            value=req.purpose,
        )
    if req.validity is not None:
        secs = req.validity.total_seconds()
        if not 1 <= secs <= MAX_VALIDITY_S:
            raise ValidationFailed(
                f"validity must be 1 s to {MAX_VALIDITY_S} s", field="validity", value=secs
            )
    if req.send_at is not None:
        if req.send_at.tzinfo is None:
            raise ValidationFailed(
                "send_at must carry a time zone", field="send_at", value=str(req.send_at)
            )
        if req.send_at > now + timedelta(days=365):
            raise ValidationFailed(
                "send_at is more than a year ahead", field="send_at", value=str(req.send_at)
            )
    if req.callback_url is not None and not req.callback_url.startswith(("http://", "https://")):
        raise ValidationFailed(
            "callback_url must be an http(s) URL", field="callback_url", value=req.callback_url
        )
    if req.idempotency_key is not None and not 1 <= len(req.idempotency_key) <= 200:
        raise ValidationFailed(
            "an idempotency key is 1-200 characters",
            field="idempotency_key",
            value=req.idempotency_key,
        )
    if req.sender is not None and not 1 <= len(req.sender) <= 20:
        raise ValidationFailed("sender is 1-20 characters", field="sender", value=req.sender)


def request_hash(req: SendRequest) -> str:
    """Return a digest of what the request asks for (its idempotency key aside)."""
    doc = {
        "channel": req.channel,
        "contact_id": req.contact_id,
        "to": req.to,
        "text": req.text,
        "template": req.template,
        "variables": req.variables,
        "kind": req.kind,
        "purpose": req.purpose,
        "sender": req.sender,
        "validity": None if req.validity is None else req.validity.total_seconds(),
        "send_at": None if req.send_at is None else req.send_at.isoformat(),
        "callback_url": req.callback_url,
        "source": req.source,
        "metadata": req.metadata,
        "fallback": req.fallback,
    }
    raw = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(raw).hexdigest()


# Statements built once: building a SELECT costs more than running it on this path.
_BY_KEY = sa.select(messages).where(
    messages.c.workspace_id == sa.bindparam("ws"),
    messages.c.idempotency_key == sa.bindparam("key"),
)
_INSERT = Prepared(messages.insert().returning(messages.c.id))
_KEYED = {"workspace_id", "idempotency_key"}
#: INSERT ... ON CONFLICT (workspace_id, idempotency_key) DO NOTHING RETURNING id, per dialect:
#: the partial unique index is the arbiter, so its predicate is repeated.
_INSERT_ONCE = {
    name: Prepared(
        dialect.insert(messages)
        .on_conflict_do_nothing(
            index_elements=[messages.c.workspace_id, messages.c.idempotency_key],
            index_where=messages.c.idempotency_key.isnot(None),
        )
        .returning(messages.c.id)
    )
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_TAGS = sa.select(contact_tags.c.tag).where(contact_tags.c.contact_id == sa.bindparam("cid"))


def _by_key(conn: sa.Connection, workspace_id: int, key: str) -> dict[str, Any] | None:
    row = conn.execute(_BY_KEY, {"ws": workspace_id, "key": key}).mappings().first()
    return None if row is None else dict(row)


def _same_request(found: dict[str, Any], digest: str, key: str) -> dict[str, Any]:
    if found["request_hash"] != digest:
        raise Conflict(
            "this Idempotency-Key was used for a different request; use a new key",
            code="idempotency_conflict",
            field="idempotency_key",
            value=key,
            message_id=int(found["id"]),
        )
    return public_message(found)


# -- recipient, template, compliance ---------------------------------------------------------
def _workspace(conn: sa.Connection, workspace_id: int) -> tuple[str | None, str | None]:
    found = workspace_rules(conn, workspace_id)  # cached: see clarion.compliance.cache
    if found is None:
        raise NotFound(f"no workspace {workspace_id}", field="workspace_id", value=workspace_id)
    return found.default_region, found.timezone


# Routes and saved templates change rarely and are read on every send: cached for 2 s, and
# emptied at once by a write in this process (clarion.compliance.cache). Route health (which
# route is failing now) is part of the cached answer, so it too is at most 2 s old here.
_ROUTES: TTLCache[list[Route]] = TTLCache("routes")
_TEMPLATES: TTLCache[Any] = TTLCache("templates")


def _routes(conn: sa.Connection, ws: int, channel: str) -> list[Route]:
    return _ROUTES.get(conn, (ws, channel), lambda: load_routes(conn, ws, channel))


def _contact_row(
    conn: sa.Connection,
    ws: int,
    req: SendRequest,
    purpose: str,
    at: datetime,
    by: str,
    value: Any,
    *,
    tags: bool,
) -> dict[str, Any] | None:
    row = recipient_inputs(conn, ws, req.channel, purpose, at, by=by, value=value)
    if row is None:
        return None
    out = dict(row)
    # Tags cost a query; read them only when the text can use them.
    out["tags"] = sorted(conn.execute(_TAGS, {"cid": out["id"]}).scalars()) if tags else []
    return out


def _contact_of(inputs: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Return the contact alone (what templates see), without the compliance inputs."""
    if inputs is None:
        return None
    return {k: v for k, v in inputs.items() if k not in INPUT_COLUMNS}


def _address(req: SendRequest, raw: str, region: str | None) -> str:
    if req.channel == "email":
        value = raw.strip().lower()
        local, _, domain = value.partition("@")
        if not local or "." not in domain or " " in value:
            raise ValidationFailed("not an email address", field="to", value=raw)
        return value
    info = parse_phone(raw, region)
    if isinstance(info, PhoneError):
        raise ValidationFailed(
            f"not a usable phone number: {info.message}", field="to", value=raw, reason=info.reason
        )
    return info.e164


def _recipient(
    conn: sa.Connection,
    ws: int,
    req: SendRequest,
    region: str | None,
    purpose: str,
    at: datetime,
    *,
    tags: bool,
) -> tuple[dict[str, Any] | None, str]:
    """Return the contact with its compliance inputs (None for an address no contact has)
    and the destination."""
    if req.contact_id is not None:
        contact = _contact_row(conn, ws, req, purpose, at, "id", req.contact_id, tags=tags)
        if contact is None:
            raise NotFound(f"no contact {req.contact_id}", field="contact_id", value=req.contact_id)
        address = contact["email" if req.channel == "email" else "phone"]
        if not address:
            raise SendRefused(
                f"contact {req.contact_id} has no {req.channel} address",
                reasons=[{"code": "no_address", "rule": "engine", "detail": req.channel}],
                contact_id=req.contact_id,
            )
        return contact, str(address)
    assert req.to is not None
    destination = _address(req, req.to, region)
    by = "email" if req.channel == "email" else "phone"
    return _contact_row(conn, ws, req, purpose, at, by, destination, tags=tags), destination


@lru_cache(maxsize=512)
def _compiled_text(text: str, names: frozenset[str]) -> CompiledTemplate:
    schema = ContextSchema(open_attributes=True, extra=names)
    return compile_template(text, known=schema)


class _Text:
    """A literal text rendered like a template, so ``{{ order.id }}`` works in either."""

    def __init__(self, text: str, names: frozenset[str]) -> None:
        self.source = text
        self._template = _compiled_text(text, names) if "{" in text else None

    def render(self, context: Mapping[str, Any]) -> str:
        return self.source if self._template is None else self._template.render(context)


def _template(conn: sa.Connection, ws: int, req: SendRequest) -> Any:
    if req.text is not None:
        names = frozenset(k for k in req.variables if k not in ("contact", "attributes", "tags"))
        return _Text(req.text, names)
    name = req.template
    assert name is not None
    return _TEMPLATES.get(
        conn, (ws, name, req.channel), lambda: load_template(conn, ws, name, channel=req.channel)
    )


def _source_of(template: Any) -> str | None:
    if isinstance(template, _Text):
        return template.source
    default = getattr(template, "default", None)
    return getattr(default, "source", None)


def _compliance(
    conn: sa.Connection,
    ws: int,
    req: SendRequest,
    purpose: str,
    contact: dict[str, Any] | None,
    destination: str,
    body: str,
    template: Any,
    at: datetime,
) -> datetime:
    """Return when the message may go; raise SendRefused with every blocking rule.

    A contact goes through the same engine as a campaign recipient (consent for marketing,
    suppression, caps and quiet hours for marketing, screening always). An address no contact
    has can receive transactional messages only, after suppression and screening.
    """
    values = tuple(str(v) for v in req.variables.values() if isinstance(v, str | int | float))
    msg = Message(body, template_source=_source_of(template), variable_values=values)
    if contact is not None:
        decision = decide_one(conn, ws, contact, msg, purpose, req.channel, at)
        if not decision.allowed:
            _refuse(decision.reasons, destination, contact_id=int(contact["id"]))
        return decision.send_at
    if req.kind == "marketing":
        raise SendRefused(
            f"marketing needs a contact who consented; no contact has {destination}",
            reasons=[
                {
                    "code": "no_consent",
                    "rule": "consent",
                    "detail": "the address belongs to no contact, so no consent is on record",
                    "severity": "block",
                }
            ],
            to=destination,
        )
    blocked = suppressed(conn, ws, [destination], req.channel, at)
    if destination in blocked:
        _refuse(
            [
                _Reason(
                    "suppressed", "suppression", f"address is suppressed: {blocked[destination]}"
                )
            ],
            destination,
        )
    if req.channel == "sms":
        check = check_text(conn, ws, body, phone=destination, purpose=purpose)
        if check.verdict == "block":
            _refuse(check.reasons, destination)
    return at


@dataclass(frozen=True, slots=True)
class _Reason:
    code: str
    rule: str
    detail: str
    severity: str = "block"

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "rule": self.rule, "detail": self.detail, "severity": "block"}


def _refuse(reasons: Sequence[Any], destination: str, **fields: Any) -> None:
    blocking = [r.as_dict() for r in reasons if r.severity == "block"]
    codes = ", ".join(dict.fromkeys(r["code"] for r in blocking))
    raise SendRefused(
        f"not sent to {destination}: {codes}", reasons=blocking, to=destination, **fields
    )


def _parts(channel: str, body: str) -> tuple[str, int]:
    if channel != "sms":
        return "utf8", 1
    encoding, _units, parts = count(body)
    return encoding, parts
