"""Decide, for a chunk of recipients, whether and when a message may go to each.

``evaluate`` loads everything a chunk needs in a few set-based queries (contacts, consent,
suppression, send counts per cap window) and then applies the pure rules of ``policies``,
``quiet_hours``, ``content`` and ``screening``. Rules that depend only on the text and the
jurisdiction run once per jurisdiction present in the chunk, not once per recipient, which is
what lets the campaign planner call it for a million recipients.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from clarion.compliance.content import Reason, first_message_reasons, wording_reasons
from clarion.compliance.history import SendHistory, SendLogHistory
from clarion.compliance.policies import Cap, Policy, builtin, jurisdictions_for, resolve
from clarion.compliance.quiet_hours import (
    next_allowed,
    resolve_zone,
    valid_zone,
    zone,
    zone_prefix,
)
from clarion.compliance.screening import Screening, build_screener
from clarion.compliance.settings import policy_overrides, workspace_rules, workspace_terms
from clarion.compliance.suppression import suppressed
from clarion.compliance.tables import compliance_suppressions
from clarion.consent.tables import consent_ledger, consent_state
from clarion.contacts.tables import contacts
from clarion.db.prepared import Prepared
from clarion.db.sql import in_values
from clarion.errors import ValidationFailed
from clarion.workspaces.tables import workspaces

PURPOSES = ("marketing", "transactional")
CHANNELS = ("sms", "email", "social")
CHUNK = 5000
#: Ledger sources of an opt-out the person made themselves (an SMS keyword, the preference
#: page, an email unsubscribe): the exclusion reason is ``opted_out``, not ``consent_revoked``.
SELF_OPT_OUT_SOURCES = frozenset(
    {"sms_keyword", "keyword", "preference_page", "list_unsubscribe", "email_unsubscribe"}
)
SELF_OPTED_OUT = "opted_out_by_contact"


@dataclass(frozen=True, slots=True)
class Message:
    """What is being sent: the text as the recipient sees it, and where it came from.

    ``template_source`` and ``variable_values`` let the link-in-variable rule see which parts
    of the text came from variables.
    """

    text: str
    template_source: str | None = None
    variable_values: tuple[str, ...] = ()


@dataclass(slots=True)
class Decision:
    """Whether one contact gets the message, when (UTC), and every rule that fired."""

    contact_id: int
    allowed: bool
    send_at: datetime
    reasons: list[Reason] = field(default_factory=list)
    jurisdiction: str = ""
    zone: str = ""
    zone_source: str = ""

    def block(self, code: str, rule: str, detail: str) -> None:
        """Record a blocking reason."""
        self.allowed = False
        self.reasons.append(Reason(code, rule, detail))

    def as_dict(self) -> dict[str, Any]:
        """Return the decision as plain JSON-able values."""
        return {
            "contact_id": self.contact_id,
            "allowed": self.allowed,
            "send_at": self.send_at.isoformat(),
            "jurisdiction": self.jurisdiction,
            "zone": self.zone,
            "zone_source": self.zone_source,
            "reasons": [r.as_dict() for r in self.reasons],
        }


@dataclass
class _Rules:
    """What a workspace's settings make of each jurisdiction, computed once per call."""

    overrides: dict[str, dict[str, Any]]
    terms: dict[str, tuple[Any, ...]]
    message: Message
    purpose: str
    channel: str
    policies: dict[str, Policy] = field(default_factory=dict)
    wording: dict[str, list[Reason]] = field(default_factory=dict)
    screenings: dict[str, Screening] = field(default_factory=dict)
    #: caps the sender adds (a campaign's own cap): they add to the law's, never replace them
    extra_caps: tuple[Cap, ...] = ()

    def policy(self, code: str) -> Policy:
        if code not in self.policies:
            policy = resolve(code, self.overrides)
            if self.extra_caps:
                policy = replace(policy, caps=tuple(dict.fromkeys(policy.caps + self.extra_caps)))
            self.policies[code] = policy
        return self.policies[code]

    def text_reasons(self, code: str) -> list[Reason]:
        """Return the wording and screening reasons of the message under ``code``'s policy."""
        if code not in self.wording:
            policy = self.policy(code)
            found = screen_for(policy, self.terms, self.message)
            self.screenings[code] = found
            reasons = wording_reasons(self.message.text, policy, self.purpose)
            reasons += screening_reasons(found, policy)
            self.wording[code] = reasons
        return self.wording[code]


def screen_for(policy: Policy, terms: Mapping[str, tuple[Any, ...]], message: Message) -> Screening:
    """Screen ``message`` with the policy's term lists plus the workspace's own terms."""
    own: list[Any] = [*terms.get("*", ())]
    code: str | None = policy.code
    while code is not None:  # US-FL also gets the workspace's US terms
        own += terms.get(code, ())
        code = builtin()["jurisdictions"].get(code, {}).get("extends")
    screener = build_screener(
        policy.term_lists,
        tuple(own),
        policy.shorteners,
        policy.allowed_domains,
        policy.links_in_variables,
    )
    return screener.screen(
        message.text,
        variable_values=message.variable_values,
        template_source=message.template_source,
    )


def screening_reasons(found: Screening, policy: Policy) -> list[Reason]:
    """Return one reason per screening hit, naming the term, its category and position."""
    out = []
    for h in found.hits:
        where = "template" if h.source == "template" else "text"
        rule = f"{policy.code}.screening.{h.source or 'url'}"
        code = "content_blocked" if h.code == "term" else h.code
        if h.code == "term" and h.action == "warn":
            code = "content_warning"
        detail = f"{h.category}: {h.term!r} at {where}[{h.start}:{h.end}]"
        out.append(Reason(code, rule, detail, "block" if h.action == "block" else "warn"))
    return out


def _check(purpose: str, channel: str, at: datetime) -> None:
    if purpose not in PURPOSES:
        raise ValidationFailed(
            "unknown purpose", field="purpose", value=purpose, allowed=list(PURPOSES)
        )
    if channel not in CHANNELS:
        raise ValidationFailed(
            "unknown channel", field="channel", value=channel, allowed=list(CHANNELS)
        )
    if at.tzinfo is None:
        raise ValidationFailed("the time must carry a zone", field="at", value=str(at))


def _rows(conn: sa.Connection, workspace_id: int, ids: Sequence[int]) -> dict[int, Any]:
    c = contacts
    cols = [c.c.id, c.c.phone, c.c.email, c.c.phone_region, c.c.phone_timezone]
    cols += [c.c.country, c.c.timezone]
    out: dict[int, Any] = {}
    for i in range(0, len(ids), CHUNK):
        q = sa.select(*cols).where(
            c.c.workspace_id == workspace_id, in_values(conn, c.c.id, ids[i : i + CHUNK])
        )
        out.update({int(r.id): r for r in conn.execute(q)})
    return out


def _consent(
    conn: sa.Connection, ids: Sequence[int], channel: str, purpose: str
) -> dict[int, tuple[str, bool]]:
    out: dict[int, tuple[str, bool]] = {}
    # ``ids`` are already this workspace's contacts (read by ``_rows``): the primary key
    # (contact_id, channel, purpose) is all the lookup needs.
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i : i + CHUNK]
        q = _consent_query(channel, purpose).where(
            in_values(conn, consent_state.c.contact_id, chunk)
        )
        for cid, status, soft, source in conn.execute(q).all():  # one fetch, not one per row
            if (state := consent_of(status, soft, source)) is not None:
                out[int(cid)] = state
    return out


def _consent_reasons(
    d: Decision, policy: Policy, purpose: str, state: tuple[str, bool] | None
) -> None:
    status, soft = state if state is not None else ("none", False)
    rule = f"{policy.code}.consent"
    if status in ("opted_out", SELF_OPTED_OUT):
        if purpose == "marketing" or policy.transactional_honours_revocation:
            if status == SELF_OPTED_OUT:
                d.block("opted_out", rule, f"the contact opted out of {purpose} messages")
            else:
                d.block("consent_revoked", rule, f"the contact revoked {purpose} consent")
        return
    if purpose != "marketing" or policy.marketing_consent == "none":
        return
    if status != "opted_in":
        d.block("no_consent", rule, f"{policy.name} needs consent for marketing (state: {status})")
    elif soft and policy.marketing_consent == "express":
        d.block(
            "soft_opt_in_not_enough",
            rule,
            f"{policy.name} needs express consent; a soft opt-in does not count",
        )
    elif soft:
        d.reasons.append(Reason("soft_opt_in", rule, "sent under a flagged soft opt-in", "info"))


def evaluate(
    conn: sa.Connection,
    workspace_id: int,
    contact_ids: Iterable[int],
    message: str | Message,
    purpose: str,
    channel: str,
    at: datetime,
    *,
    history: SendHistory | None = None,
    caps: Sequence[Cap] = (),
    contacts_read: Mapping[int, Any] | None = None,
    consent_read: bool = False,
) -> dict[int, Decision]:
    """Return a Decision per distinct contact (in first-seen order).

    A contact listed twice gets one decision (one message); a second contact with the same
    address as an earlier one in this call is blocked as a duplicate. ``caps`` are frequency
    caps of this send (a campaign's override) applied on top of the jurisdiction's.
    ``contacts_read`` are the contacts as the caller has just read them, by id (rows with
    ``id``, ``phone``, ``email``, ``phone_region``, ``phone_timezone``, ``country`` and
    ``timezone``), all of this workspace: the campaign planner has, and saves a query.
    With ``consent_read`` those rows also carry the :func:`join_consent` columns for this
    channel and purpose, which saves another.
    """
    _check(purpose, channel, at)
    msg = message if isinstance(message, Message) else Message(message)
    history = history or SendLogHistory()
    ids = list(dict.fromkeys(int(i) for i in contact_ids))
    ws_tz = conn.execute(
        sa.select(workspaces.c.timezone).where(workspaces.c.id == workspace_id)
    ).scalar()
    if ws_tz is None:
        raise ValidationFailed("unknown workspace", field="workspace_id", value=workspace_id)
    rows = _rows(conn, workspace_id, ids) if contacts_read is None else contacts_read
    rules = _Rules(
        policy_overrides(conn, workspace_id),
        workspace_terms(conn, workspace_id),
        msg,
        purpose,
        channel,
        extra_caps=tuple(caps),
    )
    found = [i for i in ids if i in rows]
    if consent_read:
        consent = {
            i: c
            for i in found
            if (
                c := consent_of(rows[i].consent_status, rows[i].soft_opt_in, rows[i].opt_out_source)
            )
        }
    else:
        consent = _consent(conn, found, channel, purpose)
    address = {i: (rows[i].email if channel == "email" else rows[i].phone) for i in found}
    blocked_addr = suppressed(conn, workspace_id, [a for a in address.values() if a], channel, at)
    codes = dict(
        zip(
            found,
            jurisdictions_for(
                [(rows[i].phone, rows[i].phone_region or rows[i].country) for i in found]
            ),
            strict=True,
        )
    )
    out: dict[int, Decision] = {}
    seen: dict[str, int] = {}
    # Recipients alike in everything ``_decide`` reads get alike decisions: decide once per
    # kind and copy (a chunk of thousands holds a few dozen kinds).
    kinds: dict[tuple[Any, ...], Decision] = {}
    zoned: dict[tuple[str | None, str | None], bool] = {}
    for cid in ids:
        row = rows.get(cid)
        if row is None:
            d = out[cid] = Decision(cid, True, at)
            d.block("unknown_contact", "engine", "no such contact in this workspace")
            continue
        addr = address[cid]
        first = seen.setdefault(addr, cid) if addr else cid
        suppression = blocked_addr.get(addr) if addr else None
        if first != cid:  # a duplicate's reason names the first contact: not shared
            out[cid] = _decide(
                cid, row, codes[cid], ws_tz, addr, suppression, consent.get(cid), rules, at,
                duplicate_of=first,
            )  # fmt: skip
            continue
        zones = (row.timezone, row.phone_timezone)
        own = zoned.get(zones)
        if own is None:
            own = zoned[zones] = bool(valid_zone(zones[0]) or valid_zone(zones[1]))
        # the number decides the zone only when neither zone field does
        by_number = None if own or not row.phone else zone_prefix(row.phone)
        key = (codes[cid], zones, by_number, bool(addr), suppression, consent.get(cid))
        like = kinds.get(key)
        if like is None:
            like = kinds[key] = _decide(
                cid, row, codes[cid], ws_tz, addr, suppression, consent.get(cid), rules, at
            )
            out[cid] = like
            continue
        out[cid] = Decision(
            cid, like.allowed, at, list(like.reasons), like.jurisdiction, like.zone,
            like.zone_source,
        )  # fmt: skip
    if purpose == "marketing":
        _apply_history(conn, workspace_id, out, rules, history, channel, purpose, at)
        _apply_quiet_hours(out, rules)
    return out


def _decide(
    cid: int,
    row: Any,
    jurisdiction: str,
    ws_tz: str,
    addr: str | None,
    suppression: str | None,
    consent: tuple[str, bool] | None,
    rules: _Rules,
    at: datetime,
    *,
    duplicate_of: int | None = None,
) -> Decision:
    """Apply the per-recipient rules (address, suppression, consent, wording, screening).

    The batch :func:`evaluate` and the single :func:`evaluate_one` both end here, so the two
    load their inputs differently but can never judge them differently.
    """
    d = Decision(cid, True, at)
    policy = rules.policy(jurisdiction)
    d.jurisdiction = policy.code
    d.zone, d.zone_source = resolve_zone(row.timezone, row.phone_timezone, row.phone, ws_tz)
    if not addr:
        d.block("no_address", "engine", f"the contact has no {rules.channel} address")
    elif duplicate_of is not None:
        d.block("duplicate", "engine", f"same address as contact {duplicate_of} in this send")
    if suppression is not None:
        d.block("suppressed", "suppression", f"address is suppressed: {suppression}")
    _consent_reasons(d, policy, rules.purpose, consent)
    for r in rules.text_reasons(policy.code):
        d.reasons.append(r)
        d.allowed = d.allowed and r.severity != "block"
    return d


#: Columns :func:`recipient_inputs` adds to the contact's own.
INPUT_COLUMNS = ("consent_status", "soft_opt_in", "opt_out_source", "suppression")


def join_consent(
    left: Any,
    contact_id: sa.ColumnElement[Any],
    channel: str,
    purpose: Any,
    *,
    after: Any = None,
) -> tuple[Any, list[sa.ColumnElement[Any]]]:
    """Outer-join to ``left`` a contact's consent state for (channel, purpose) and, for an
    opt-out, the source of its ledger entry; return the join and the input columns
    ``consent_status``, ``soft_opt_in`` and ``opt_out_source`` (read them with
    :func:`consent_of`).

    The single-send query and the campaign planner's chunk read both use this, so a send and
    a campaign read consent the same way, in the query they run anyway. ``after``: every
    contact read has a greater id (a keyset chunk). Saying so lets PostgreSQL start its walk
    of consent_state there: measured at 1M contacts, its merge join otherwise read the
    consent of every contact before the chunk, each chunk (300 ms for a chunk half-way).
    """
    cs = consent_state
    on = [cs.c.contact_id == contact_id, cs.c.channel == channel, cs.c.purpose == purpose]
    if after is not None:
        on.append(cs.c.contact_id > after)
    joined = left.outerjoin(cs, sa.and_(*on)).outerjoin(consent_ledger, _OPT_OUT_ENTRY)
    columns: list[sa.ColumnElement[Any]] = [
        cs.c.status.label("consent_status"),
        cs.c.soft_opt_in,
        consent_ledger.c.source.label("opt_out_source"),
    ]
    return joined, columns


#: The ledger entry of an opt-out, to tell the person's own from others (see ``consent_of``).
#: It is looked up for an opt-out only: for any other state the key is NULL and the lookup
#: ends at once (a condition beside the key would be checked after the lookup).
_OPT_OUT_ENTRY = consent_ledger.c.id == sa.case(
    (consent_state.c.status == "opted_out", consent_state.c.ledger_id)
)


def _consent_query(channel: str, purpose: str) -> sa.Select[Any]:
    """Return the consent of contacts (a WHERE on ``consent_state.contact_id`` to add) for
    (channel, purpose), in :func:`join_consent`'s columns, for :func:`consent_of`."""
    cs = consent_state
    return (
        sa.select(cs.c.contact_id, cs.c.status, cs.c.soft_opt_in, consent_ledger.c.source)
        .select_from(cs.outerjoin(consent_ledger, _OPT_OUT_ENTRY))
        .where(cs.c.channel == channel, cs.c.purpose == purpose)
    )


def consent_of(status: Any, soft_opt_in: Any, opt_out_source: Any) -> tuple[str, bool] | None:
    """Return the consent the rules judge from the :func:`join_consent` columns of a row."""
    if status is None:
        return None
    if status == "opted_out" and opt_out_source in SELF_OPT_OUT_SOURCES:
        return SELF_OPTED_OUT, bool(soft_opt_in)
    return str(status), bool(soft_opt_in)


def _one_query(channel: str, by: str) -> sa.Select[Any]:
    """Return the one statement that reads what a single decision needs about a contact: the
    contact's row, its consent state for (channel, purpose) with the ledger source of an
    opt-out, and the reason of a live suppression of its address."""
    c, sup = contacts, compliance_suppressions
    address = c.c.email if channel == "email" else c.c.phone
    suppression = (
        sa.select(sup.c.reason)
        .where(
            sup.c.workspace_id == sa.bindparam("ws"),
            sup.c.value == address,
            sa.or_(sup.c.channel == "*", sup.c.channel == channel),
            sa.or_(sup.c.expires_at.is_(None), sup.c.expires_at > sa.bindparam("at")),
        )
        .order_by(sup.c.id)
        .limit(1)
        .scalar_subquery()
    )
    joined, consent = join_consent(c, c.c.id, channel, sa.bindparam("purpose"))
    return (
        sa.select(c, *consent, suppression.label("suppression"))
        .select_from(joined)
        .where(c.c.workspace_id == sa.bindparam("ws"), c.c[by] == sa.bindparam("value"))
        .limit(1)
    )


# Built once: building the statement costs more than running it on the send path.
#: Run on the DBAPI cursor (clarion.db.prepared): one send runs it, SQLAlchemy's execution
#: context around it cost ten times the query.
_ONE = {
    (ch, by): Prepared(_one_query(ch, by)) for ch in CHANNELS for by in ("id", "phone", "email")
}


def recipient_inputs(
    conn: sa.Connection,
    workspace_id: int,
    channel: str,
    purpose: str,
    at: datetime,
    *,
    by: str = "id",
    value: Any,
) -> dict[str, Any] | None:
    """Return the contact whose ``by`` (id, phone or email) is ``value``, with what a decision
    about it needs (``INPUT_COLUMNS``), in one query; None if the workspace has no such one.

    The send API reads its recipient through this, so the contact it renders for and the
    inputs of :func:`decide_one` cost one statement together.
    """
    params = {"ws": workspace_id, "value": value, "purpose": purpose, "at": at}
    return _ONE[(channel, by)].first(conn, params)


def decide_one(
    conn: sa.Connection,
    workspace_id: int,
    row: Mapping[str, Any] | sa.RowMapping,
    message: str | Message,
    purpose: str,
    channel: str,
    at: datetime,
    *,
    history: SendHistory | None = None,
    caps: Sequence[Cap] = (),
) -> Decision:
    """Return the Decision for the contact of a :func:`recipient_inputs` row.

    The rules applied are the batch path's own (``_decide``, ``_apply_history``,
    ``_apply_quiet_hours``); the workspace's settings come from
    :func:`clarion.compliance.settings.workspace_rules` (cached, see
    :mod:`clarion.compliance.cache`). Marketing also counts past sends for the frequency caps
    (one query per cap window, through ``history``).
    """
    _check(purpose, channel, at)
    msg = message if isinstance(message, Message) else Message(message)
    ws = workspace_rules(conn, workspace_id)
    if ws is None:
        raise ValidationFailed("unknown workspace", field="workspace_id", value=workspace_id)
    rules = _Rules(ws.overrides, ws.terms, msg, purpose, channel, extra_caps=tuple(caps))
    if not caps:  # resolved policies are shared by every send under the same settings
        rules.policies = ws.policies
    consent = consent_of(row["consent_status"], row["soft_opt_in"], row["opt_out_source"])
    addr = row["email"] if channel == "email" else row["phone"]
    code = jurisdictions_for([(row["phone"], row["phone_region"] or row["country"])])[0]
    fields = _ZoneFields(row["timezone"], row["phone_timezone"], row["phone"])
    d = _decide(
        int(row["id"]), fields, code, ws.timezone, addr, row["suppression"], consent, rules, at
    )
    if purpose == "marketing":
        out = {d.contact_id: d}
        hist = history or SendLogHistory()
        _apply_history(conn, workspace_id, out, rules, hist, channel, purpose, at)
        _apply_quiet_hours(out, rules)
    return d


@dataclass(frozen=True, slots=True)
class _ZoneFields:
    timezone: str | None
    phone_timezone: str | None
    phone: str | None


def evaluate_one(
    conn: sa.Connection,
    workspace_id: int,
    contact_id: int,
    message: str | Message,
    purpose: str,
    channel: str,
    at: datetime,
    *,
    history: SendHistory | None = None,
    caps: Sequence[Cap] = (),
) -> Decision:
    """Return the Decision for one contact, as :func:`evaluate` would, in one query.

    The send API decides for one recipient at a time; the batch engine would spend six
    queries on it (it is built for chunks of thousands).
    """
    _check(purpose, channel, at)
    if workspace_rules(conn, workspace_id) is None:
        raise ValidationFailed("unknown workspace", field="workspace_id", value=workspace_id)
    row = recipient_inputs(conn, workspace_id, channel, purpose, at, value=int(contact_id))
    if row is None:
        d = Decision(int(contact_id), True, at)
        d.block("unknown_contact", "engine", "no such contact in this workspace")
        return d
    return decide_one(
        conn, workspace_id, row, message, purpose, channel, at, history=history, caps=caps
    )


def _apply_history(
    conn: sa.Connection,
    workspace_id: int,
    out: dict[int, Decision],
    rules: _Rules,
    history: SendHistory,
    channel: str,
    purpose: str,
    at: datetime,
) -> None:
    """Apply frequency caps and the first-message rule: one count query per distinct window."""
    live = [d for d in out.values() if d.jurisdiction]
    windows = {c.hours for d in live for c in rules.policy(d.jurisdiction).caps}
    counts = {
        h: history.counts(
            conn,
            workspace_id,
            [d.contact_id for d in live],
            channel,
            purpose,
            at - timedelta(hours=h),
        )
        for h in sorted(windows)
    }
    for d in live:
        for cap in rules.policy(d.jurisdiction).caps:
            n = counts[cap.hours].get(d.contact_id, 0)
            if n >= cap.count:
                d.block(
                    "frequency_cap",
                    f"{d.jurisdiction}.caps",
                    f"{n} {purpose} messages in the last {cap.hours} h (at most {cap.count})",
                )
    first_rule = [d for d in live if rules.policy(d.jurisdiction).first_message_rules]
    if not first_rule:
        return
    ever = history.counts(
        conn, workspace_id, [d.contact_id for d in first_rule], channel, purpose, None
    )
    memo: dict[str, list[Reason]] = {}
    for d in first_rule:
        if ever.get(d.contact_id, 0) == 0:
            if d.jurisdiction not in memo:
                policy = rules.policy(d.jurisdiction)
                memo[d.jurisdiction] = first_message_reasons(rules.message.text, policy, purpose)
            for r in memo[d.jurisdiction]:
                d.block(r.code, r.rule, r.detail)


def _apply_quiet_hours(out: dict[int, Decision], rules: _Rules) -> None:
    """Move each marketing send to the next moment inside its local send window.

    Every decision of a call starts at the same moment, so the answer depends only on the
    zone and the policy: it is computed once per (zone, jurisdiction), not per recipient.
    """
    memo: dict[tuple[datetime, str, str], tuple[datetime, Reason | None]] = {}
    for d in out.values():
        if not d.jurisdiction:
            continue
        key = (d.send_at, d.zone, d.jurisdiction)
        if key not in memo:
            memo[key] = _moved(d.send_at, d.zone, d.jurisdiction, rules)
        when, reason = memo[key]
        if reason is not None:
            d.reasons.append(reason)
            d.send_at = when


def _moved(at: datetime, tz_name: str, code: str, rules: _Rules) -> tuple[datetime, Reason | None]:
    policy = rules.policy(code)
    window, blocked = policy.send_window, policy.blocked_day
    in_window = next_allowed(at, tz_name, window)
    when = next_allowed(at, tz_name, window, blocked) if blocked is not None else in_window
    if when == at:
        return at, None
    tz = zone(tz_name)
    moved_to = f"moved to {when.astimezone(tz):%Y-%m-%d %H:%M %Z}"
    if when == in_window and window is not None:
        detail = (
            f"{at.astimezone(tz):%H:%M} in {tz_name} is outside "
            f"{window[0]:%H:%M}-{window[1]:%H:%M}; {moved_to}"
        )
        return when, Reason("quiet_hours", f"{code}.send_window", detail, "info")
    # A no-send day (Sunday, public holiday, blackout date) pushed it further.
    day = in_window.astimezone(tz).date()
    why = policy.why_blocked(day) or f"{day.isoformat()} is a no-send day"
    return when, Reason("no_send_day", f"{code}.no_send_days", f"{why}; {moved_to}", "info")
