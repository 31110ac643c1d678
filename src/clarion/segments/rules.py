"""The rule language: a JSON tree parsed into typed nodes, with errors that point into the tree.

A rule is a group or a condition::

    {"all": [rule, ...]}   {"any": [rule, ...]}   {"not": rule}
    {"field": "country", "op": "in", "value": ["US", "GB"]}
    {"field": "attributes.plan", "op": "eq", "value": "gold"}
    {"type": "tag", "tag": "vip"}
    {"type": "consent", "channel": "sms", "purpose": "marketing", "status": "opted_in"}
    {"type": "event", "name": "purchase", "op": "gte", "count": 2,
     "window": {"days": 90}, "where": [{"property": "amount", "op": "gt", "value": 10}]}
    {"type": "orders", "metric": "total", "op": "gt", "value": 100, "window": {"days": 365}}
    {"type": "bought", "category": "Shoes", "window": {"from": "-30d", "to": "now"}}
    {"type": "trait", "name": "churn_risk", "op": "gte", "value": 0.7}
    {"type": "segment", "segment_id": 12}

Every node keeps its path ("all[1].any[0]") so a ValidationFailed says exactly where a mistake is.
Semantics fixed here and in docs/segments.md: negative operators (ne, not_in, not_contains,
not_exists) hold for missing values; ``contains`` folds ASCII case only; windows are half-open
``[from, to)``; ``between`` includes both ends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from clarion.errors import ValidationFailed
from clarion.segments.dates import parse_date

Kind = Literal["string", "number", "datetime", "bool"]

#: Profile fields on the contacts table, by rule name -> (column name, kind).
PROFILE_FIELDS: dict[str, tuple[str, Kind]] = {
    "external_id": ("external_id", "string"),
    "first_name": ("first_name", "string"),
    "last_name": ("last_name", "string"),
    "phone": ("phone", "string"),
    "email": ("email", "string"),
    "locale": ("locale", "string"),
    "country": ("country", "string"),
    "timezone": ("timezone", "string"),
    "source": ("source", "string"),
    "phone.type": ("phone_type", "string"),
    "phone.country": ("phone_region", "string"),
    "phone.region": ("phone_region", "string"),
    "phone.carrier": ("phone_carrier", "string"),
    "phone.timezone": ("phone_timezone", "string"),
    "created_at": ("created_at", "datetime"),
    "updated_at": ("updated_at", "datetime"),
}
UPPER_FIELDS = {"country", "phone.country", "phone.region"}

POSITIVE_OPS = {"eq", "in", "contains", "gt", "gte", "lt", "lte", "between", "exists"}
NEGATIVE_OPS = {"ne": "eq", "not_in": "in", "not_contains": "contains", "not_exists": "exists"}
OPS_BY_KIND: dict[Kind, set[str]] = {
    "string": {"eq", "ne", "in", "not_in", "contains", "not_contains", "exists", "not_exists"},
    "number": {"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between"}
    | {"exists", "not_exists"},
    "datetime": {"gt", "gte", "lt", "lte", "between", "exists", "not_exists"},
    "bool": {"eq", "ne", "exists", "not_exists"},
}
COUNT_OPS = {"eq", "ne", "gt", "gte", "lt", "lte", "between"}
CHANNELS = {"sms", "email", "social"}
PURPOSES = {"marketing", "transactional"}
STATUSES = {"opted_in", "opted_out", "pending"}
ORDER_METRICS: dict[str, Kind] = {
    "count": "number",
    "total": "number",
    "average": "number",
    "last_order_at": "datetime",
}
KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
MAX_DEPTH = 20


@dataclass(frozen=True)
class Predicate:
    """One comparison: ``op`` applied to a value of ``kind``. Dates stay unresolved specs."""

    kind: Kind
    op: str
    value: Any = None

    @property
    def negated(self) -> bool:
        """Return whether this is a negative operator (compiled as NOT of its positive)."""
        return self.op in NEGATIVE_OPS

    def positive(self) -> Predicate:
        """Return the positive form of a negative operator (``ne`` -> ``eq``)."""
        return Predicate(self.kind, NEGATIVE_OPS.get(self.op, self.op), self.value)


@dataclass(frozen=True)
class Window:
    """A half-open time window ``[start, end)``; ``days`` means the last N days before ``at``."""

    days: int | None = None
    start: str | None = None
    end: str | None = None

    def bounds(self, at: datetime) -> tuple[datetime | None, datetime | None]:
        """Return the resolved ``(start, end)`` at moment ``at`` (None for open ends)."""
        if self.days is not None:
            return parse_date(f"-{self.days}d", at), at
        start = parse_date(self.start, at) if self.start is not None else None
        end = parse_date(self.end, at) if self.end is not None else None
        return start, end


@dataclass(frozen=True)
class Node:
    path: str


@dataclass(frozen=True)
class Group(Node):
    match: Literal["all", "any"]
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not(Node):
    child: Node


@dataclass(frozen=True)
class FieldCond(Node):
    field: str  # rule name: "country", "attributes.plan"
    pred: Predicate

    @property
    def attribute(self) -> str | None:
        """Return the custom attribute key, or None for a profile field."""
        return self.field.split(".", 1)[1] if self.field.startswith("attributes.") else None


@dataclass(frozen=True)
class TagCond(Node):
    tag: str


@dataclass(frozen=True)
class ConsentCond(Node):
    channel: str
    purpose: str
    status: str


@dataclass(frozen=True)
class PropertyFilter:
    property: str
    pred: Predicate


@dataclass(frozen=True)
class EventCond(Node):
    name: str
    count: Predicate
    window: Window | None
    where: tuple[PropertyFilter, ...] = field(default=())


@dataclass(frozen=True)
class OrdersCond(Node):
    metric: str
    pred: Predicate
    window: Window | None


@dataclass(frozen=True)
class BoughtCond(Node):
    skus: tuple[str, ...]
    categories: tuple[str, ...]
    window: Window | None


@dataclass(frozen=True)
class TraitCond(Node):
    name: str
    pred: Predicate


@dataclass(frozen=True)
class SegmentCond(Node):
    segment_id: int


def _fail(path: str, reason: str, value: Any = None, **extra: Any) -> ValidationFailed:
    return ValidationFailed(f"{path}: {reason}", field=path, value=value, reason=reason, **extra)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _require(doc: dict[str, Any], key: str, path: str) -> Any:
    if key not in doc:
        return _missing(path, key)
    return doc[key]


def _missing(path: str, key: str) -> Any:
    raise _fail(_join(path, key), f"{key!r} is required")


def _string(doc: dict[str, Any], key: str, path: str, *, allowed: set[str] | None = None) -> str:
    value = _require(doc, key, path)
    if not isinstance(value, str) or not value.strip():
        raise _fail(_join(path, key), "a non-empty string is required", value)
    if allowed is not None and value not in allowed:
        raise _fail(_join(path, key), f"one of {sorted(allowed)} expected", value)
    return value


def _check_date(value: Any, path: str) -> None:
    try:
        parse_date(value, datetime(2000, 1, 1, tzinfo=UTC))
    except ValueError as exc:
        raise _fail(path, f"bad date: {exc}", value) from None


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _check_scalar(kind: Kind, v: Any, path: str) -> Any:
    if kind == "string":
        if not isinstance(v, str):
            raise _fail(path, "a string is expected for a text value", v)
        return v
    if kind == "number":
        if not _is_number(v):
            raise _fail(path, "a number is expected", v)
        return v
    if kind == "bool":
        if not isinstance(v, bool):
            raise _fail(path, "true or false is expected", v)
        return v
    _check_date(v, path)
    return v


def parse_predicate(doc: dict[str, Any], path: str, kind: Kind | None) -> Predicate:
    """Return the predicate of ``doc`` (``op`` and ``value``) for a value of ``kind``.

    ``kind`` None means a schemaless JSON value (custom attributes, event properties): its kind
    is inferred from the value given, so ``gt 5`` compares numbers and ``contains "x"`` text.
    """
    op = _require(doc, "op", path)
    op_path = _join(path, "op")
    all_ops = set().union(*OPS_BY_KIND.values())
    if not isinstance(op, str) or op not in all_ops:
        raise _fail(op_path, f"unknown operator; one of {sorted(all_ops)}", op)
    value = doc.get("value")
    vpath = _join(path, "value")
    if op in {"exists", "not_exists"}:
        return Predicate(kind or "string", op)
    if "value" not in doc:
        raise _fail(vpath, f"operator {op!r} needs a value")
    if kind is None:
        sample = value[0] if isinstance(value, list) and value else value
        if isinstance(sample, bool):
            kind = "bool"
        elif _is_number(sample):
            kind = "number"
        elif isinstance(sample, str):
            kind = "string"
        else:
            raise _fail(vpath, "a string, number or boolean is expected", value)
    if op not in OPS_BY_KIND[kind]:
        raise _fail(
            op_path,
            f"operator {op!r} does not apply to a {kind} value; use one of "
            f"{sorted(OPS_BY_KIND[kind])}",
            op,
        )
    if op in {"in", "not_in"}:
        if not isinstance(value, list) or not value:
            raise _fail(vpath, "a non-empty list is expected", value)
        value = [_check_scalar(kind, v, f"{vpath}[{i}]") for i, v in enumerate(value)]
    elif op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise _fail(vpath, "a list [low, high] is expected", value)
        value = [_check_scalar(kind, v, f"{vpath}[{i}]") for i, v in enumerate(value)]
    else:
        value = _check_scalar(kind, value, vpath)
    return Predicate(kind, op, value)


def _window(doc: dict[str, Any], path: str) -> Window | None:
    w = doc.get("window")
    if w is None:
        return None
    wpath = _join(path, "window")
    if not isinstance(w, dict):
        raise _fail(wpath, "an object {days} or {from, to} is expected", w)
    if "days" in w:
        days = w["days"]
        if not isinstance(days, int) or isinstance(days, bool) or days <= 0:
            raise _fail(_join(wpath, "days"), "a positive whole number of days is expected", days)
        return Window(days=days)
    if "from" not in w and "to" not in w:
        raise _fail(wpath, "give 'days' or 'from'/'to'", w)
    for key in ("from", "to"):
        if key in w:
            _check_date(w[key], _join(wpath, key))
    return Window(start=w.get("from"), end=w.get("to"))


def _count_pred(doc: dict[str, Any], path: str) -> Predicate:
    op = doc.get("op", "gte")
    if op not in COUNT_OPS:
        raise _fail(_join(path, "op"), f"a count takes one of {sorted(COUNT_OPS)}", op)
    value = doc.get("count", 1)
    cpath = _join(path, "count")
    values = value if op == "between" else [value]
    if op == "between" and (not isinstance(value, list) or len(value) != 2):
        raise _fail(cpath, "a list [low, high] is expected", value)
    for v in values:
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise _fail(cpath, "a whole number >= 0 is expected", v)
    return Predicate("number", op, value)


def _field(doc: dict[str, Any], path: str) -> FieldCond:
    name = _string(doc, "field", path)
    fpath = _join(path, "field")
    if name.startswith("attributes."):
        key = name.split(".", 1)[1]
        if not KEY_RE.match(key):
            raise _fail(fpath, "an attribute name is letters, digits and underscores", name)
        return FieldCond(path, name, parse_predicate(doc, path, None))
    if name not in PROFILE_FIELDS:
        raise _fail(
            fpath,
            "unknown field; use a profile field or attributes.<name>",
            name,
            allowed=sorted(PROFILE_FIELDS),
        )
    pred = parse_predicate(doc, path, PROFILE_FIELDS[name][1])
    if name in UPPER_FIELDS and pred.value is not None:
        v = pred.value
        pred = Predicate(
            pred.kind, pred.op, [x.upper() for x in v] if isinstance(v, list) else v.upper()
        )
    return FieldCond(path, name, pred)


def _event(doc: dict[str, Any], path: str) -> EventCond:
    name = _string(doc, "name", path)
    where = doc.get("where", [])
    if not isinstance(where, list):
        raise _fail(_join(path, "where"), "a list of property filters is expected", where)
    filters = []
    for i, f in enumerate(where):
        fpath = f"{_join(path, 'where')}[{i}]"
        if not isinstance(f, dict):
            raise _fail(fpath, "an object {property, op, value} is expected", f)
        prop = _string(f, "property", fpath)
        if not KEY_RE.match(prop):
            raise _fail(_join(fpath, "property"), "letters, digits and underscores only", prop)
        filters.append(PropertyFilter(prop, parse_predicate(f, fpath, None)))
    return EventCond(path, name, _count_pred(doc, path), _window(doc, path), tuple(filters))


def _orders(doc: dict[str, Any], path: str) -> OrdersCond:
    metric = _string(doc, "metric", path, allowed=set(ORDER_METRICS))
    pred = parse_predicate(doc, path, ORDER_METRICS[metric])
    if pred.op in {"exists", "not_exists", "in", "not_in"}:
        raise _fail(_join(path, "op"), f"operator {pred.op!r} does not apply to orders", pred.op)
    return OrdersCond(path, metric, pred, _window(doc, path))


def _str_list(doc: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
    v = doc.get(key)
    if v is None:
        return ()
    items = v if isinstance(v, list) else [v]
    if not items or not all(isinstance(x, str) and x for x in items):
        raise _fail(_join(path, key), "a string or a list of strings is expected", v)
    return tuple(items)


def _bought(doc: dict[str, Any], path: str) -> BoughtCond:
    skus, cats = _str_list(doc, "sku", path), _str_list(doc, "category", path)
    if not skus and not cats:
        raise _fail(path, "give 'sku' or 'category'", doc)
    return BoughtCond(path, skus, cats, _window(doc, path))


def _trait(doc: dict[str, Any], path: str) -> TraitCond:
    name = _string(doc, "name", path)
    if not KEY_RE.match(name):
        raise _fail(_join(path, "name"), "letters, digits and underscores only", name)
    pred = parse_predicate(doc, path, None)
    if pred.kind not in {"string", "number"}:
        raise _fail(_join(path, "value"), "a trait is a number or a text", pred.value)
    return TraitCond(path, name, pred)


def _segment(doc: dict[str, Any], path: str) -> SegmentCond:
    sid = _require(doc, "segment_id", path)
    if not isinstance(sid, int) or isinstance(sid, bool) or sid <= 0:
        raise _fail(_join(path, "segment_id"), "a segment id is expected", sid)
    return SegmentCond(path, sid)


def _leaf(doc: dict[str, Any], path: str) -> Node:
    kind = doc.get("type", "field" if "field" in doc else None)
    if kind == "field":
        return _field(doc, path)
    if kind == "tag":
        return TagCond(path, _string(doc, "tag", path))
    if kind == "consent":
        return ConsentCond(
            path,
            _string(doc, "channel", path, allowed=CHANNELS),
            _string(doc, "purpose", path, allowed=PURPOSES),
            _string({"status": "opted_in", **doc}, "status", path, allowed=STATUSES),
        )
    if kind == "event":
        return _event(doc, path)
    if kind == "orders":
        return _orders(doc, path)
    if kind == "bought":
        return _bought(doc, path)
    if kind == "trait":
        return _trait(doc, path)
    if kind == "segment":
        return _segment(doc, path)
    raise _fail(
        _join(path, "type"),
        "unknown condition type; one of all/any/not groups, field, tag, consent, event, "
        "orders, bought, trait, segment",
        kind,
    )


def parse(doc: Any, path: str = "", depth: int = 0) -> Node:
    """Return the typed rule tree of ``doc`` or raise ValidationFailed at the faulty path."""
    if depth > MAX_DEPTH:
        raise _fail(path or "rules", f"rules nest deeper than {MAX_DEPTH} levels")
    if not isinstance(doc, dict):
        raise _fail(path or "rules", "a rule is a JSON object", doc)
    for match in ("all", "any"):
        if match in doc:
            items = doc[match]
            gpath = _join(path, match)
            if not isinstance(items, list) or not items:
                raise _fail(gpath, "a non-empty list of rules is expected", items)
            children = tuple(parse(c, f"{gpath}[{i}]", depth + 1) for i, c in enumerate(items))
            return Group(path, match, children)
    if "not" in doc:
        return Not(path, parse(doc["not"], _join(path, "not"), depth + 1))
    return _leaf(doc, path)


def walk(node: Node) -> list[Node]:
    """Return ``node`` and every node below it, parents first."""
    out = [node]
    if isinstance(node, Group):
        for c in node.children:
            out.extend(walk(c))
    elif isinstance(node, Not):
        out.extend(walk(node.child))
    return out


def referenced_segments(node: Node) -> set[int]:
    """Return the ids of the segments this rule tree refers to directly."""
    return {n.segment_id for n in walk(node) if isinstance(n, SegmentCond)}
