"""Explain: would this contact get this message, when, and if not, why.

The answer is the same :class:`Decision` the planner gets, plus what a person needs to act on
it: the jurisdiction and where its rules come from, the zone used and why, the text as the
contact would receive it (a template is rendered for the contact first) and every screening
hit with its position. A campaign passes its own settings through :class:`SendSpec`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from clarion.compliance.content import Reason, wording_reasons
from clarion.compliance.engine import Decision, Message, evaluate, screen_for, screening_reasons
from clarion.compliance.history import SendHistory
from clarion.compliance.policies import (
    WORKSPACE_WIDE,
    jurisdiction_codes,
    jurisdiction_for,
    resolve,
)
from clarion.compliance.screening import Screening
from clarion.compliance.settings import policy_overrides, workspace_rules, workspace_terms
from clarion.contacts.tables import contacts
from clarion.errors import NotFound, ValidationFailed
from clarion.messages.lint import ContextSchema
from clarion.messages.templates import compile_template, contact_context

_VARIABLE = re.compile(r"\{\{.*?\}\}", re.S)


@dataclass(frozen=True, slots=True)
class SendSpec:
    """What is sent and how: a text (may hold ``{{ }}``) or a saved template's name.

    The campaign feature fills this from a campaign (its body, purpose, channel and id).
    """

    text: str | None = None
    template: str | None = None
    purpose: str = "marketing"
    channel: str = "sms"
    campaign_id: int | None = None


@dataclass
class Explanation:
    """The answer to "would this contact get this message, when, and why not"."""

    contact: dict[str, Any]
    decision: Decision
    policy_name: str
    policy_source: str
    text: str
    spec: SendSpec
    variables: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the explanation as plain JSON-able values."""
        return {
            "contact": self.contact,
            "would_send": self.decision.allowed,
            "send_at": self.decision.send_at.isoformat() if self.decision.allowed else None,
            "jurisdiction": self.decision.jurisdiction,
            "policy": {"name": self.policy_name, "source": self.policy_source},
            "zone": {"name": self.decision.zone, "from": self.decision.zone_source},
            "purpose": self.spec.purpose,
            "channel": self.spec.channel,
            "campaign_id": self.spec.campaign_id,
            "text": self.text,
            "reasons": [r.as_dict() for r in self.decision.reasons],
        }

    def lines(self) -> list[str]:
        """Return the explanation as lines a person reads at a terminal."""
        d = self.decision
        who = self.contact.get("phone") or self.contact.get("email") or "?"
        head = f"WOULD SEND at {d.send_at:%Y-%m-%d %H:%M} UTC" if d.allowed else "WOULD NOT SEND"
        out = [
            f"contact {self.contact['id']} ({who}): {head}",
            f"  jurisdiction {d.jurisdiction} — {self.policy_name}",
            f"  zone {d.zone} (from {d.zone_source}); {self.spec.purpose} via {self.spec.channel}",
            f"  text: {self.text}",
        ]
        if not d.reasons:
            out.append("  no rule fired")
        for r in d.reasons:
            out.append(f"  [{r.severity}] {r.code} ({r.rule}): {r.detail}")
        return out


_OPEN = ContextSchema(open_attributes=True)


def render_for(source: str, context: Mapping[str, Any]) -> tuple[str, list[str]]:
    """Return ``source`` rendered with ``context`` and what each ``{{ variable }}`` became.

    Each variable is rendered on its own too, so the link-in-variable rule knows which parts
    of the text came from data rather than from the author.
    """
    if "{" not in source:
        return source, []
    text = compile_template(source, known=_OPEN).render(context)
    values = [
        compile_template(m.group(0), known=_OPEN).render(context)
        for m in _VARIABLE.finditer(source)
    ]
    return text, values


def find_contact(conn: sa.Connection, workspace_id: int, ref: str | int) -> dict[str, Any]:
    """Return a contact of the workspace by id or by phone/email, or raise NotFound."""
    c = contacts
    q = sa.select(c).where(c.c.workspace_id == workspace_id)
    if isinstance(ref, int) or str(ref).isdigit():
        q = q.where(c.c.id == int(ref))
    elif "@" in str(ref):
        q = q.where(c.c.email == str(ref).strip().lower())
    else:
        q = q.where(c.c.phone == str(ref).replace(" ", ""))
    row = conn.execute(q).mappings().first()
    if row is None:
        raise NotFound("no such contact", field="contact", value=ref)
    return dict(row)


def campaign_spec(
    conn: sa.Connection, workspace_id: int, campaign_id: int, variant: str | None = None
) -> SendSpec:
    """Return the spec of a campaign's variant (the first one unless ``variant`` names one)."""
    from clarion.campaigns.service import get_campaign

    camp = get_campaign(conn, workspace_id, campaign_id)
    chosen = [v for v in camp.variants if variant is None or v.name == variant]
    if not chosen:
        raise NotFound(
            f"campaign {campaign_id} has no variant {variant!r}",
            field="variant",
            value=variant,
            allowed=[v.name for v in camp.variants],
        )
    return SendSpec(
        text=chosen[0].body, purpose=camp.purpose, channel=camp.channel, campaign_id=camp.id
    )


def _source(conn: sa.Connection, workspace_id: int, spec: SendSpec, row: Mapping[str, Any]) -> str:
    """Return the source to render: the text, or the saved template's variant for the contact."""
    if spec.text is not None:
        return spec.text
    from clarion.messages.service import load_template

    template = load_template(conn, workspace_id, spec.template or "", channel=spec.channel)
    return template.pick(row.get("locale")).source


def _context(conn: sa.Connection, workspace_id: int, row: Mapping[str, Any]) -> dict[str, Any]:
    from clarion.contacts.service import get_contact

    return contact_context(get_contact(conn, workspace_id, int(row["id"])))


def explain(
    conn: sa.Connection,
    workspace_id: int,
    contact: str | int,
    spec: SendSpec,
    at: datetime,
    *,
    history: SendHistory | None = None,
) -> Explanation:
    """Explain whether, when and why (not) ``spec`` would reach ``contact`` at ``at``."""
    if (spec.text is None) == (spec.template is None):
        raise ValidationFailed("give a text or a template name, not both", field="text")
    row = find_contact(conn, workspace_id, contact)
    source = _source(conn, workspace_id, spec, row)
    text, values = render_for(source, _context(conn, workspace_id, row))
    message = Message(
        text, template_source=source if values else None, variable_values=tuple(values)
    )
    decision = evaluate(
        conn,
        workspace_id,
        [int(row["id"])],
        message,
        spec.purpose,
        spec.channel,
        at,
        history=history,
    )[int(row["id"])]
    policy = resolve(decision.jurisdiction, policy_overrides(conn, workspace_id))
    summary = {
        k: row.get(k)
        for k in ("id", "phone", "email", "country", "phone_region", "timezone", "phone_timezone")
    }
    return Explanation(summary, decision, policy.name, policy.source, text, spec, values)


@dataclass
class TextCheck:
    """Screening and wording verdict on a text under one jurisdiction's policy."""

    jurisdiction: str
    purpose: str
    screening: Screening
    reasons: list[Reason]

    @property
    def verdict(self) -> str:
        """Return block, warn or ok over screening and wording rules together."""
        if any(r.severity == "block" for r in self.reasons):
            return "block"
        return "warn" if self.reasons else "ok"

    def as_dict(self) -> dict[str, Any]:
        """Return the check as plain JSON-able values."""
        return {
            "jurisdiction": self.jurisdiction,
            "purpose": self.purpose,
            "verdict": self.verdict,
            "hits": [h.as_dict() for h in self.screening.hits],
            "reasons": [r.as_dict() for r in self.reasons],
        }


def check_text(
    conn: sa.Connection,
    workspace_id: int,
    text: str,
    *,
    jurisdiction: str | None = None,
    phone: str | None = None,
    purpose: str = "marketing",
) -> TextCheck:
    """Screen ``text`` and check its wording for a jurisdiction (given, or from ``phone``)."""
    code = jurisdiction or jurisdiction_for(phone)
    if code not in jurisdiction_codes() or code == WORKSPACE_WIDE:
        raise ValidationFailed(
            f"unknown jurisdiction {code!r}",
            field="jurisdiction",
            value=code,
            allowed=jurisdiction_codes()[1:],
        )
    ws = workspace_rules(conn, workspace_id)  # cached: see clarion.compliance.cache
    overrides = ws.overrides if ws else policy_overrides(conn, workspace_id)
    policy = resolve(code, overrides)
    found = screen_for(
        policy, ws.terms if ws else workspace_terms(conn, workspace_id), Message(text)
    )
    reasons = wording_reasons(text, policy, purpose) + screening_reasons(found, policy)
    return TextCheck(code, purpose, found, reasons)
