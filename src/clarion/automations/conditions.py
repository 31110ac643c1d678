"""Evaluate property filters and branch conditions against data fetched for a batch of runs.

Evaluation is pure Python over what :mod:`clarion.automations.advance` fetched for the whole
batch in a few set-based queries (contacts, tags, traits, the events since entry), so a branch
costs no query per run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from clarion.automations.models import Compare, Condition


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def _ordered(a: Any, b: Any) -> tuple[Any, Any] | None:
    """Return ``a`` and ``b`` in a comparable form (numbers, else strings), or None."""
    na, nb = _num(a), _num(b)
    if na is not None and nb is not None:
        return na, nb
    if isinstance(a, str) and isinstance(b, str):
        return a, b
    return None


def _equal(a: Any, b: Any) -> bool:
    if a == b:
        return True
    na, nb = _num(a), _num(b)
    return na is not None and na == nb


def compare(actual: Any, test: Compare, *, present: bool = True) -> bool:
    """Return whether ``actual`` passes ``test`` (``present`` False: the value is missing)."""
    op, want = test.op, test.value
    if op == "exists":
        has = present and actual is not None
        return has if want in (True, None) else not has
    if not present or actual is None:
        return op in ("ne", "not_in")
    if op == "eq":
        return _equal(actual, want)
    if op == "ne":
        return not _equal(actual, want)
    if op == "in":
        return any(_equal(actual, w) for w in want)
    if op == "not_in":
        return not any(_equal(actual, w) for w in want)
    if op == "contains":
        if isinstance(actual, str):
            return str(want) in actual
        if isinstance(actual, Sequence):
            return any(_equal(x, want) for x in actual)
        return False
    pair = _ordered(actual, want)
    if pair is None:
        return False
    a, b = pair
    return bool({"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op])


def lookup(doc: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    """Return (present, value) of ``a.b.c`` in nested mappings."""
    cur: Any = doc
    for part in dotted.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


def matches(properties: Mapping[str, Any], where: Mapping[str, Compare]) -> bool:
    """Return whether event ``properties`` pass every filter (keys may be dotted paths)."""
    for key, test in where.items():
        present, value = lookup(properties, key)
        if not compare(value, test, present=present):
            return False
    return True


@dataclass(frozen=True, slots=True)
class SeenEvent:
    """An event of a contact fetched for condition and goal checks."""

    id: int
    name: str
    properties: Mapping[str, Any]
    occurred_at: datetime


@dataclass(slots=True)
class Facts:
    """What a condition may look at for one run."""

    contact: Mapping[str, Any]
    tags: Sequence[str]
    traits: Mapping[str, Any]
    trigger: Mapping[str, Any]
    entered_at: datetime
    trigger_event_id: int | None
    now: datetime
    events: Sequence[SeenEvent] = field(default_factory=list)

    def events_since_entry(self, name: str) -> list[SeenEvent]:
        """Return the contact's ``name`` events since entering, the trigger itself excluded."""
        return [
            e
            for e in self.events
            if e.name == name and e.occurred_at >= self.entered_at and e.id != self.trigger_event_id
        ]


def _field(facts: Facts, name: str) -> tuple[bool, Any]:
    head, _, rest = name.partition(".")
    if head == "tags" and not rest:
        return True, list(facts.tags)
    if head == "attributes" and rest:
        return lookup(facts.contact.get("attributes") or {}, rest)
    if head == "traits" and rest:
        return (rest in facts.traits), facts.traits.get(rest)
    if head == "event" and rest:
        return lookup(facts.trigger.get("properties") or {}, rest)
    if head == "contact" and rest:
        return lookup(facts.contact, rest)
    return lookup(facts.contact, name)


def holds(cond: Condition, facts: Facts) -> bool:
    """Return whether ``cond`` holds for the run described by ``facts``."""
    if cond.all_ is not None:
        return all(holds(c, facts) for c in cond.all_)
    if cond.any_ is not None:
        return any(holds(c, facts) for c in cond.any_)
    if cond.not_ is not None:
        return not holds(cond.not_, facts)
    if cond.event is not None:
        ev = cond.event
        found = facts.events_since_entry(ev.name)
        if ev.within is not None:
            found = [e for e in found if e.occurred_at >= facts.now - ev.within]
        return any(matches(e.properties, ev.where) for e in found)
    assert cond.field is not None
    present, value = _field(facts, cond.field)
    return compare(value, Compare(op=cond.op, value=cond.value), present=present)
