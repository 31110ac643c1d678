"""Compliance policies as data: which rules apply to a recipient, chosen by the number.

The built-in policies live in ``data/policies.json``. A policy is resolved in layers, later
layers winning key by key: the built-in ``default``, the workspace-wide settings (``"*"``), the
built-in jurisdiction chain (``US`` then ``US-FL``), then the workspace's settings for those
jurisdictions. Some keys never loosen: send windows intersect (the strictest wins), and
frequency caps and no-send days (weekdays, public holidays, dates) accumulate, so a workspace
setting can add restrictions to the law but a state rule is never undone by a country rule.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import phonenumbers
from phonenumbers import geocoder

from clarion.compliance.calendar import blocked_days, parse_dates, parse_weekdays, why_blocked
from clarion.errors import ValidationFailed

#: Consent a marketing send needs: an explicit opt-in, or (EU/UK) also a flagged soft opt-in.
CONSENT_KINDS = ("express", "express_or_soft_opt_in", "none")
OPT_OUT_KINDS = ("none", "first_message", "every_marketing")
SIGNATURE_KINDS = ("none", "cn_brackets")
SHORTENER_ACTIONS = ("allow", "warn", "block")
WORKSPACE_WIDE = "*"


@dataclass(frozen=True, slots=True)
class Cap:
    """At most ``count`` marketing messages per ``hours`` on one channel, across campaigns."""

    count: int
    hours: int


@dataclass(frozen=True, slots=True)
class Policy:
    """The rules for one jurisdiction, after workspace settings are applied."""

    code: str
    name: str
    source: str
    marketing_consent: str
    transactional_honours_revocation: bool
    send_window: tuple[time, time] | None
    caps: tuple[Cap, ...]
    signature: str
    opt_out_required: str
    opt_out_phrases: tuple[str, ...]
    first_message_brand_and_stop: bool
    help_reply_required: bool
    links_in_variables: bool
    shorteners: str
    term_lists: tuple[str, ...]
    brand: str | None = None
    allowed_domains: tuple[str, ...] = ()
    #: Marketing never goes out on these local weekdays (Monday 0), public holidays of the
    #: jurisdiction (``holidays`` package), or dates; the send moves to the next allowed day.
    no_send_days: tuple[int, ...] = ()
    no_send_on_holidays: bool = False
    no_send_dates: tuple[date, ...] = ()

    @property
    def blocked_day(self) -> Callable[[date], bool] | None:
        """Return a predicate on local dates for the no-send days, None if there are none."""
        return blocked_days(
            self.code, self.no_send_days, self.no_send_on_holidays, self.no_send_dates
        )

    def why_blocked(self, day: date) -> str | None:
        """Return why ``day`` is a no-send day here, None if it is not."""
        return why_blocked(
            self.code, self.no_send_days, self.no_send_on_holidays, self.no_send_dates, day
        )

    @property
    def first_message_rules(self) -> bool:
        """Return whether a first message to a new subscriber has wording rules."""
        return self.first_message_brand_and_stop or self.opt_out_required == "first_message"


def _data(name: str) -> str:
    return resources.files("clarion.compliance").joinpath("data", name).read_text("utf-8")


@cache
def builtin() -> dict[str, Any]:
    """Return the parsed built-in policy file."""
    data: dict[str, Any] = json.loads(_data("policies.json"))
    return data


@cache
def _us_states() -> dict[str, str]:
    return {k: v for k, v in json.loads(_data("us_states.json")).items() if not k.startswith("_")}


def jurisdiction_codes() -> list[str]:
    """Return every built-in jurisdiction code (for validating workspace settings)."""
    return [WORKSPACE_WIDE, "default", *builtin()["jurisdictions"]]


def _parse_time(value: str, where: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            "a send window is two HH:MM times", field=where, value=value
        ) from None


def _window(value: Any, where: str) -> tuple[time, time] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValidationFailed("a send window is [start, end]", field=where, value=value)
    start, end = _parse_time(value[0], where), _parse_time(value[1], where)
    if not start < end:
        raise ValidationFailed("a send window must start before it ends", field=where, value=value)
    return start, end


def _intersect(
    a: tuple[time, time] | None, b: tuple[time, time] | None
) -> tuple[time, time] | None:
    if a is None or b is None:
        return a or b
    start, end = max(a[0], b[0]), min(a[1], b[1])
    # Disjoint windows mean "never": keep an empty-looking window that next_allowed refuses.
    return (start, end) if start < end else (start, start)


def _caps(value: Any, where: str) -> list[Cap]:
    if not isinstance(value, list):
        raise ValidationFailed("caps is a list of {count, hours}", field=where, value=value)
    out = []
    for i, c in enumerate(value):
        try:
            hours = int(c["hours"]) if "hours" in c else int(c["days"]) * 24
            cap = Cap(int(c["count"]), hours)
        except (KeyError, TypeError, ValueError):
            raise ValidationFailed(
                "a cap is {count, hours} or {count, days}", field=f"{where}[{i}]", value=c
            ) from None
        if cap.count < 0 or cap.hours <= 0:
            raise ValidationFailed("a cap needs count >= 0, hours > 0", field=where, value=c)
        out.append(cap)
    return out


_CHOICES = {
    "marketing_consent": CONSENT_KINDS,
    "opt_out_required": OPT_OUT_KINDS,
    "signature": SIGNATURE_KINDS,
    "shorteners": SHORTENER_ACTIONS,
}
_KNOWN = {
    "name",
    "source",
    "extends",
    "marketing_consent",
    "transactional_honours_revocation",
    "send_window",
    "caps",
    "signature",
    "opt_out_required",
    "opt_out_phrases",
    "first_message_brand_and_stop",
    "help_reply_required",
    "links_in_variables",
    "shorteners",
    "term_lists",
    "brand",
    "allowed_domains",
    "no_send_days",
    "no_send_on_holidays",
    "no_send_dates",
}


def validate_settings(settings: Mapping[str, Any], where: str = "settings") -> None:
    """Raise ValidationFailed if a workspace override holds an unknown key or a bad value."""
    for key, value in settings.items():
        if key not in _KNOWN:
            raise ValidationFailed(
                f"unknown policy setting {key!r}", field=f"{where}.{key}", allowed=sorted(_KNOWN)
            )
        if key in _CHOICES and value not in _CHOICES[key]:
            raise ValidationFailed(
                f"{key} must be one of {', '.join(_CHOICES[key])}",
                field=f"{where}.{key}",
                value=value,
            )
    if "send_window" in settings:
        _window(settings["send_window"], f"{where}.send_window")
    if "caps" in settings:
        _caps(settings["caps"], f"{where}.caps")
    if "no_send_days" in settings:
        parse_weekdays(settings["no_send_days"], f"{where}.no_send_days")
    if "no_send_dates" in settings:
        parse_dates(settings["no_send_dates"], f"{where}.no_send_dates")


def _chain(code: str) -> list[dict[str, Any]]:
    """Return the built-in layers of ``code``, outermost first (``US`` before ``US-FL``)."""
    table = builtin()["jurisdictions"]
    layers: list[dict[str, Any]] = []
    current: str | None = code
    while current is not None and current in table:
        layers.append(table[current])
        current = table[current].get("extends")
    return layers[::-1]


def resolve(code: str, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Policy:
    """Return the policy for jurisdiction ``code`` with a workspace's ``overrides`` applied.

    ``overrides`` maps a jurisdiction code (or ``"*"`` for the whole workspace) to settings.
    """
    if code != "default" and code not in builtin()["jurisdictions"]:
        raise ValidationFailed(
            f"unknown jurisdiction {code!r}",
            field="jurisdiction",
            value=code,
            allowed=jurisdiction_codes()[1:],
        )
    overrides = overrides or {}
    chain_codes = _chain_codes(code)
    layers: list[Mapping[str, Any]] = [builtin()["default"], overrides.get(WORKSPACE_WIDE, {})]
    layers += _chain(code)
    layers += [overrides[c] for c in chain_codes if c in overrides]
    merged: dict[str, Any] = {}
    window: tuple[time, time] | None = None
    caps: list[Cap] = []
    weekdays: set[int] = set()
    dates: set[date] = set()
    on_holidays = False
    for layer in layers:
        for key, value in layer.items():
            if key == "send_window":
                window = _intersect(window, _window(value, f"{code}.send_window"))
            elif key == "caps":
                caps += _caps(value, f"{code}.caps")
            elif key == "no_send_days":
                weekdays.update(parse_weekdays(value, f"{code}.no_send_days"))
            elif key == "no_send_dates":
                dates.update(parse_dates(value, f"{code}.no_send_dates"))
            elif key == "no_send_on_holidays":
                on_holidays = on_holidays or bool(value)
            elif key != "extends" and not key.startswith("_"):
                merged[key] = value
    return Policy(
        code=code,
        name=merged.get("name", code),
        source=merged.get("source", ""),
        marketing_consent=merged["marketing_consent"],
        transactional_honours_revocation=bool(merged["transactional_honours_revocation"]),
        send_window=window,
        caps=tuple(dict.fromkeys(caps)),
        signature=merged["signature"],
        opt_out_required=merged["opt_out_required"],
        opt_out_phrases=tuple(merged["opt_out_phrases"]),
        first_message_brand_and_stop=bool(merged["first_message_brand_and_stop"]),
        help_reply_required=bool(merged["help_reply_required"]),
        links_in_variables=bool(merged["links_in_variables"]),
        shorteners=merged["shorteners"],
        term_lists=tuple(merged["term_lists"]),
        brand=merged.get("brand"),
        allowed_domains=tuple(d.lower() for d in merged.get("allowed_domains", ())),
        no_send_days=tuple(sorted(weekdays)),
        no_send_on_holidays=on_holidays,
        no_send_dates=tuple(sorted(dates)),
    )


def _chain_codes(code: str) -> list[str]:
    table = builtin()["jurisdictions"]
    codes: list[str] = []
    current: str | None = code
    while current is not None:
        codes.append(current)
        current = table.get(current, {}).get("extends")
    return codes[::-1]


# ---- from a number to a jurisdiction -------------------------------------------------------


@lru_cache(maxsize=65536)
def _region_of_prefix(prefix: str) -> str | None:
    # Region depends on the country code and, in NANP (+1), on the area code: a prefix of the
    # number is enough and lets a million recipients share a few hundred lookups.
    try:
        num = phonenumbers.parse(prefix + "5550100", None)
    except phonenumbers.NumberParseException:
        return None
    region: str | None = phonenumbers.region_code_for_number(num)
    return region


def _prefix(phone: str, nanp: int = 5, other: int = 7) -> str:
    return phone[:nanp] if phone.startswith("+1") else phone[:other]


def region_of(phone: str) -> str | None:
    """Return the ISO region of an E.164 number (``"US"``, ``"CN"``) or None if unknown."""
    if phone.startswith("+1"):
        return _region_of_prefix(phone[:5])
    try:
        region: str | None = phonenumbers.region_code_for_number(phonenumbers.parse(phone, None))
    except phonenumbers.NumberParseException:
        return None
    return region


@lru_cache(maxsize=4096)
def us_state_of(phone: str) -> str | None:
    """Return the US state (postal code) of a US number from its area code, or None.

    The area code decides the state (area codes never span states), so the lookup is cached
    per ``+1NPA``; the geocoder answers "Florida" or "New York, NY".
    """
    npa = phone[:5]
    return _us_state_of_npa(npa)


@lru_cache(maxsize=2048)
def _us_state_of_npa(npa: str) -> str | None:
    try:
        num = phonenumbers.parse(npa + "5550100", None)
    except phonenumbers.NumberParseException:
        return None
    desc = geocoder.description_for_number(num, "en")
    if not desc:
        return None
    if ", " in desc:
        tail = desc.rsplit(", ", 1)[1].strip()
        if len(tail) == 2 and tail.isupper():
            return tail
    return _us_states().get(desc.strip())


def jurisdiction_for(phone: str | None, region: str | None = None) -> str:
    """Return the jurisdiction code whose rules apply to ``phone`` (``US-FL``, ``CN``, ``EU``)."""
    if region is None and phone:
        region = region_of(phone)
    region = (region or "").upper()
    table = builtin()["jurisdictions"]
    if region == "US":
        state = us_state_of(phone) if phone else None
        sub = f"US-{state}"
        return sub if state and sub in table else "US"
    if region in builtin()["eu_regions"]:
        return "EU"
    if region in table:
        return region
    return "default"


def jurisdictions_for(phones: Sequence[tuple[str | None, str | None]]) -> list[str]:
    """Return the jurisdiction of each ``(phone, region)``, sharing lookups by prefix."""
    cache_: dict[tuple[str, str | None], str] = {}
    out = []
    for phone, region in phones:
        key = (_prefix(phone or ""), region)
        code = cache_.get(key)
        if code is None:
            code = cache_[key] = jurisdiction_for(phone, region)
        out.append(code)
    return out
