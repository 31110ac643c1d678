"""A plain Python evaluator of rule trees: the reference the compiled SQL is checked against.

It follows the semantics written in docs/segments.md, independently of the SQL compiler.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from fractions import Fraction
from typing import Any

from tests.segments.factory import Person

from clarion.segments.dates import parse_date
from clarion.segments.rules import (
    BoughtCond,
    ConsentCond,
    EventCond,
    FieldCond,
    Group,
    Node,
    Not,
    OrdersCond,
    Predicate,
    SegmentCond,
    TagCond,
    TraitCond,
    Window,
    parse,
)

PROFILE = {"country": "country", "first_name": "first_name", "phone.carrier": "phone_carrier"}


def _fold(s: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in s)


def holds(pred: Predicate, x: Any, at: datetime) -> bool:
    """Return whether value ``x`` (None when missing) satisfies ``pred``."""
    if pred.negated:
        return not holds(pred.positive(), x, at)
    if x is None:
        return False
    if pred.op == "exists":
        return True

    def res(v: Any) -> Any:
        return parse_date(v, at) if pred.kind == "datetime" else v

    if pred.op == "in":
        return any(x == res(v) for v in pred.value)
    if pred.op == "between":
        return bool(res(pred.value[0]) <= x <= res(pred.value[1]))
    if pred.op == "contains":
        return _fold(pred.value) in _fold(x)
    v = res(pred.value)
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "eq": lambda a, b: a == b,
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    return ops[pred.op](x, v)


def json_value(doc: dict[str, Any], key: str, pred: Predicate) -> Any:
    """Return the JSON value if its type fits the predicate's kind (type-strict), else None."""
    v = doc.get(key)
    if pred.op in {"exists", "not_exists"}:
        return v
    if pred.kind == "bool":
        return v if isinstance(v, bool) else None
    if pred.kind == "number":
        return v if isinstance(v, int | float) and not isinstance(v, bool) else None
    return v if isinstance(v, str) else None


def in_window(t: datetime, w: Window | None, at: datetime) -> bool:
    if w is None:
        return True
    start, end = w.bounds(at)
    return (start is None or t >= start) and (end is None or t < end)


def evaluate(node: Node, p: Person, at: datetime, segments: dict[int, Any]) -> bool:
    """Return whether person ``p`` satisfies ``node`` at ``at``."""
    if isinstance(node, Group):
        results = [evaluate(c, p, at, segments) for c in node.children]
        return all(results) if node.match == "all" else any(results)
    if isinstance(node, Not):
        return not evaluate(node.child, p, at, segments)
    if isinstance(node, FieldCond):
        key = node.attribute
        if key is not None:
            return holds(node.pred, json_value(p.attributes, key, node.pred), at)
        value = p.created_at if node.field == "created_at" else getattr(p, PROFILE[node.field])
        return holds(node.pred, value, at)
    if isinstance(node, TagCond):
        return node.tag in p.tags
    if isinstance(node, ConsentCond):
        return p.consent.get((node.channel, node.purpose)) == node.status
    if isinstance(node, EventCond):
        n = sum(
            1
            for name, t, props in p.events
            if name == node.name
            and in_window(t, node.window, at)
            and all(holds(f.pred, json_value(props, f.property, f.pred), at) for f in node.where)
        )
        return holds(node.count, n, at)
    if isinstance(node, OrdersCond):
        rows = [(t, Fraction(total)) for t, total, _ in p.orders if in_window(t, node.window, at)]
        value: Any
        if node.metric == "count":
            value = len(rows)
        elif node.metric == "total":
            value = sum((r[1] for r in rows), Fraction(0))
        elif node.metric == "average":
            value = sum(r[1] for r in rows) / len(rows) if rows else None
        else:
            value = max(r[0] for r in rows) if rows else None
        pred = node.pred
        if pred.kind == "number" and value is not None:
            pred = Predicate(
                pred.kind,
                pred.op,
                [Fraction(x) for x in pred.value]
                if isinstance(pred.value, list)
                else Fraction(pred.value),
            )
        return holds(pred, value, at)
    if isinstance(node, BoughtCond):
        return any(
            in_window(t, node.window, at)
            and any(
                sku in node.skus or (cat is not None and cat in node.categories)
                for sku, cat in items
            )
            for t, _, items in p.orders
        )
    if isinstance(node, TraitCond):
        v = p.traits.get(node.name)
        if node.pred.op in {"exists", "not_exists"}:
            return holds(node.pred, v, at)
        kind_ok = isinstance(v, str) if node.pred.kind == "string" else isinstance(v, float)
        return holds(node.pred, v if kind_ok else None, at)
    if isinstance(node, SegmentCond):
        return evaluate(parse(segments[node.segment_id]), p, at, segments)
    raise TypeError(node)
