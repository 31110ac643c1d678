"""Rules on a message's wording: signature, opt-out text, brand and STOP, HELP replies.

Pure functions over the text and the policy, checked once per (message, jurisdiction) rather
than once per recipient; the first-message rule needs to know who is new, which the caller
learns from the send history.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from clarion.compliance.policies import Policy
from clarion.compliance.screening import normalise

_CN_SIGNATURE = re.compile(r"^\s*【([^【】]{1,20})】")


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a rule fired: a stable ``code``, the ``rule`` (policy and clause) and a ``detail``.

    ``severity`` is ``block`` (not sent), ``warn`` (sent, but look), or ``info`` (sent at
    another time, e.g. moved out of quiet hours).
    """

    code: str
    rule: str
    detail: str
    severity: str = "block"

    def as_dict(self) -> dict[str, str]:
        """Return the reason as plain JSON-able values."""
        return {
            "code": self.code,
            "rule": self.rule,
            "detail": self.detail,
            "severity": self.severity,
        }


def contains_phrase(text: str, phrases: tuple[str, ...]) -> str | None:
    """Return the first phrase found in ``text`` (normalised; Latin phrases as whole words)."""
    norm = normalise(text)
    for phrase in phrases:
        p = normalise(phrase)
        if p.isascii():
            if re.search(rf"(?<![a-z0-9]){re.escape(p)}(?![a-z0-9])", norm):
                return phrase
        elif p in norm:
            return phrase
    return None


def signature_reasons(text: str, policy: Policy) -> list[Reason]:
    """Return what is wrong with the sender signature (China: 【brand】 first, no other 【】)."""
    if policy.signature != "cn_brackets":
        return []
    norm = normalise(text)
    m = _CN_SIGNATURE.match(norm)
    rule = f"{policy.code}.signature"
    if m is None:
        return [
            Reason(
                "cn_signature_missing",
                rule,
                "the message must start with the sender signature in 【】, e.g. 【品牌】",
            )
        ]
    rest = norm[m.end() :]
    if "【" in rest or "】" in rest:
        at = m.end() + min(i for i in (rest.find("【"), rest.find("】")) if i >= 0)
        return [
            Reason(
                "cn_signature_extra_brackets",
                rule,
                f"【】 may appear only around the signature; another at position {at}",
            )
        ]
    return []


def opt_out_reasons(text: str, policy: Policy, purpose: str) -> list[Reason]:
    """Return a reason if a marketing message lacks the opt-out instruction every one needs."""
    if purpose != "marketing" or policy.opt_out_required != "every_marketing":
        return []
    if contains_phrase(text, policy.opt_out_phrases):
        return []
    examples = ", ".join(policy.opt_out_phrases[:3])
    return [
        Reason(
            "opt_out_missing",
            f"{policy.code}.opt_out",
            f"every marketing message must say how to opt out (e.g. {examples})",
        )
    ]


def _brand_reasons(text: str, policy: Policy, rule: str) -> list[Reason]:
    if not policy.brand:
        detail = "set the workspace's brand (policy setting 'brand') to send first messages"
        return [Reason("brand_not_configured", rule, detail)]
    if normalise(policy.brand) not in normalise(text):
        detail = f"the first message to a new subscriber must name the brand {policy.brand!r}"
        return [Reason("first_message_brand_missing", rule, detail)]
    return []


def first_message_reasons(text: str, policy: Policy, purpose: str) -> list[Reason]:
    """Return what a first marketing message to a new subscriber lacks (brand, STOP wording)."""
    if purpose != "marketing" or not policy.first_message_rules:
        return []
    rule = f"{policy.code}.first_message"
    out = _brand_reasons(text, policy, rule) if policy.first_message_brand_and_stop else []
    if not contains_phrase(text, policy.opt_out_phrases or ("STOP",)):
        out.append(
            Reason(
                "first_message_stop_missing",
                rule,
                "the first message to a new subscriber must say 'Reply STOP to opt out'",
            )
        )
    return out


_HELP_PARTS = {
    "rates": re.compile(r"msg\s*(&|and)\s*data\s*rates\s*may\s*apply"),
    "stop": re.compile(r"(?<![a-z])stop(?![a-z])"),
    "contact": re.compile(r"@|\+?\d[\d\s().-]{6,}\d|https?://|www\."),
}


def help_reply_reasons(text: str, policy: Policy) -> list[Reason]:
    """Return what a HELP auto-reply lacks (CTIA: brand, support contact, rates, how to stop)."""
    if not policy.help_reply_required:
        return []
    norm = normalise(text)
    rule = f"{policy.code}.help_reply"
    out = []
    if policy.brand and normalise(policy.brand) not in norm:
        out.append(Reason("help_brand_missing", rule, f"name the brand {policy.brand!r}"))
    labels = {
        "rates": "say 'Msg & data rates may apply'",
        "stop": "say how to stop (Reply STOP)",
        "contact": "give a support contact (phone, email or URL)",
    }
    for key, pattern in _HELP_PARTS.items():
        if not pattern.search(norm):
            out.append(Reason(f"help_{key}_missing", rule, labels[key]))
    return out


def wording_reasons(text: str, policy: Policy, purpose: str) -> list[Reason]:
    """Return every wording rule the text breaks for any recipient under ``policy``."""
    return [*signature_reasons(text, policy), *opt_out_reasons(text, policy, purpose)]
