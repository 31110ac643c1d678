"""Explain: would this contact get this message, when, and if not, why.

The answer is the same :class:`Decision` the planner gets, plus what a person needs to act on
it: the jurisdiction and where its rules come from, the zone used and why, the text as the
contact would receive it (a template is rendered for the contact first) and every screening
hit with its position. A campaign passes its own settings through :class:`SendSpec`.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment

from clarion.compliance.engine import Decision, Message, evaluate
from clarion.compliance.history import SendHistory
from clarion.compliance.policies import resolve
from clarion.compliance.settings import policy_overrides
from clarion.contacts.tables import contacts
from clarion.errors import NotFound, ValidationFailed

_VARIABLE = re.compile(r"\{\{.*?\}\}", re.S)
_ENV = SandboxedEnvironment(autoescape=False)
Renderer = Callable[[Mapping[str, Any]], str]


@dataclass(frozen=True, slots=True)
class SendSpec:
    """What is sent and how: the text or template, purpose and channel.

    The campaign feature fills this from a campaign (its body, purpose, channel and id).
    """

    text: str
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


def _template_api() -> tuple[Callable[[str], Renderer], Callable[[Mapping[str, Any]], Any]] | None:
    """Return the text engine's compile and context functions when that module exists."""
    try:
        mod = importlib.import_module("clarion.messages.templates")
    except ImportError:
        return None
    compile_template = getattr(mod, "compile_template", None)
    contact_context = getattr(mod, "contact_context", None)
    if compile_template is None or contact_context is None:
        return None

    def compile_(source: str) -> Renderer:
        tpl = compile_template(source)
        return lambda ctx: str(tpl.render(ctx))

    return compile_, contact_context


def _compile(source: str) -> Renderer:
    api = _template_api()
    if api is not None:
        return api[0](source)
    tpl = _ENV.from_string(source)
    return lambda ctx: tpl.render(ctx)


def _context(contact: Mapping[str, Any]) -> Any:
    api = _template_api()
    if api is not None:
        return api[1](contact)
    return {**(contact.get("attributes") or {}), **contact}


def render_for(source: str, contact: Mapping[str, Any]) -> tuple[str, list[str]]:
    """Return ``source`` rendered for ``contact`` and what each ``{{ variable }}`` became."""
    if "{" not in source:
        return source, []
    ctx = _context(contact)
    try:
        text = _compile(source)(ctx)
        values = [_compile(m.group(0))(ctx) for m in _VARIABLE.finditer(source)]
    except TemplateError as exc:
        raise ValidationFailed(f"template does not render: {exc}", field="text") from None
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
    row = find_contact(conn, workspace_id, contact)
    text, values = render_for(spec.text, row)
    message = Message(
        text, template_source=spec.text if values else None, variable_values=tuple(values)
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
