"""Compile a rule tree into one SQLAlchemy Core boolean over the ``contacts`` table.

Every condition becomes a two-valued boolean (never SQL NULL), so NOT and negative operators mean
what a person expects. Behaviour and order conditions become aggregate subqueries on the covering
indexes: ``contacts.id IN (SELECT contact_id ... GROUP BY contact_id HAVING ...)``. When contacts
with no rows at all satisfy the condition ("at most 2 purchases", "total spend < 50"), it is
compiled as the complement ``NOT IN`` / ``NOT EXISTS`` of those who fail it, so people with zero
events are counted without enumerating them. PostgreSQL gets ``NOT EXISTS`` (a hash anti-join
that spills to disk) because a large ``NOT IN`` list falls back to a nested loop there; SQLite
gets ``NOT IN`` (one ephemeral index).
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from clarion.consent.tables import consent_state
from clarion.contacts.tables import contact_tags, contacts
from clarion.errors import ValidationFailed
from clarion.events.tables import events, order_items, orders
from clarion.segments.dates import parse_date
from clarion.segments.rules import (
    PROFILE_FIELDS,
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
    walk,
)
from clarion.traits.tables import contact_traits

Bool = ColumnElement[bool]
#: Return the stored rules of segment ``id`` in the workspace, or None if there is no such one.
SegmentLoader = Callable[[int], Any]

_ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASCII_LOWER = _ASCII_UPPER.lower()
_PY_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def ascii_fold(s: str) -> str:
    """Return ``s`` with ASCII letters lower-cased (the same fold on both databases)."""
    return s.translate(str.maketrans(_ASCII_UPPER, _ASCII_LOWER))


@dataclass
class Compiler:
    """Compile rules for one workspace at one moment on one database dialect."""

    dialect: str
    workspace_id: int
    at: datetime
    load_segment: SegmentLoader
    stack: list[int] = field(default_factory=list)
    #: Path of the segment reference in the rules being compiled, while inside another segment:
    #: errors found there are reported where the person can fix them.
    outer_path: str | None = None
    #: Within an "all" group: the contacts of its most selective aggregate condition. Other
    #: aggregate subqueries of the group only look at those contacts (see ``_all``).
    restrict: sa.CTE | None = None

    # -- entry points -------------------------------------------------------------------------

    def compile(self, node: Node) -> Bool:
        """Return the boolean expression for ``node`` over ``contacts``."""
        if isinstance(node, Group) and node.match == "all":
            return self._all(node)
        if isinstance(node, Group):
            return sa.or_(*(self.compile(c) for c in node.children))
        if isinstance(node, Not):
            return sa.not_(self.compile(node.child))
        if isinstance(node, FieldCond):
            return self._field(node)
        if isinstance(node, TagCond):
            sub = sa.select(contact_tags.c.contact_id).where(contact_tags.c.tag == node.tag)
            return contacts.c.id.in_(sub)
        if isinstance(node, ConsentCond):
            return contacts.c.id.in_(self._consent(node))
        if isinstance(node, EventCond):
            return self._event(node)
        if isinstance(node, OrdersCond):
            return self._orders(node)
        if isinstance(node, BoughtCond):
            sub = self._bought(node)
            if self.restrict is not None:
                sub = sub.where(orders.c.contact_id.in_(sa.select(self.restrict.c.contact_id)))
            return contacts.c.id.in_(sub)
        if isinstance(node, TraitCond):
            return self._trait(node)
        if isinstance(node, SegmentCond):
            return self._segment(node)
        raise TypeError(f"unknown rule node {node!r}")  # pragma: no cover

    def _all(self, node: Group) -> Bool:
        """Return the AND of the children, with semi-join reduction between aggregates.

        "event(view) >= 3 within 30d and orders.total > 100" would sum the orders of every
        contact; instead the event condition's contacts become a CTE and the order subquery
        reads only their orders (an index probe each). Contacts outside that set fail the
        AND anyway, so restricting every other subquery below this group is exact.
        """
        drivers = [c for c in node.children if _driver_rank(c) is not None]
        driver = min(drivers, key=lambda c: _driver_rank(c) or 0) if drivers else None
        if driver is None or not any(
            isinstance(n, EventCond | OrdersCond | BoughtCond)
            for c in node.children
            if c is not driver
            for n in walk(c)
        ):
            return sa.and_(*(self.compile(c) for c in node.children))
        base, agg, pred = self._aggregate_parts(driver)
        cte = base.having(self.predicate(agg, pred, nullable=False)).cte(f"seg_{next(_CTE_SEQ)}")
        first: Bool = contacts.c.id.in_(sa.select(cte.c.contact_id))
        saved, self.restrict = self.restrict, cte
        try:
            rest = [self.compile(c) for c in node.children if c is not driver]
        finally:
            self.restrict = saved
        return sa.and_(first, *rest)

    # -- values and predicates ----------------------------------------------------------------

    def _resolve(self, pred: Predicate, value: Any) -> Any:
        if pred.kind == "datetime":
            return parse_date(value, self.at)
        return value

    def _fold(self, expr: ColumnElement[Any]) -> ColumnElement[Any]:
        if self.dialect == "postgresql":
            return sa.func.translate(expr, _ASCII_UPPER, _ASCII_LOWER)
        return sa.func.lower(expr)  # SQLite's lower() folds ASCII only

    def _contains(self, expr: ColumnElement[Any], needle: str) -> Bool:
        n = sa.literal(ascii_fold(needle), sa.String)
        if self.dialect == "postgresql":
            return sa.func.strpos(self._fold(expr), n) > 0
        return sa.func.instr(self._fold(expr), n) > 0

    def predicate(
        self,
        expr: ColumnElement[Any],
        pred: Predicate,
        *,
        present: Bool | None = None,
        nullable: bool = True,
    ) -> Bool:
        """Return ``pred`` applied to ``expr`` as a boolean that is never NULL.

        ``present`` is the test that the value exists (``expr IS NOT NULL`` by default); with it
        a missing value makes a positive operator false and a negative one true.
        ``nullable=False`` skips the test for expressions that cannot be NULL (aggregates).
        """
        if pred.negated:
            return sa.not_(
                self.predicate(expr, pred.positive(), present=present, nullable=nullable)
            )
        guard: list[Bool] = []
        if present is not None:
            guard.append(present)
        elif nullable:
            guard.append(expr.is_not(None))
        op, v = pred.op, pred.value
        if op == "exists":
            return sa.and_(*guard) if guard else sa.true()
        if op == "in":
            test: Bool = expr.in_([self._resolve(pred, x) for x in v])
        elif op == "between":
            lo, hi = (self._resolve(pred, x) for x in v)
            test = sa.and_(expr >= lo, expr <= hi)
        elif op == "contains":
            test = self._contains(expr, v)
        else:
            test = _PY_OPS[op](expr, self._resolve(pred, v))
        return sa.and_(*guard, test)

    def _json_parts(
        self, col: ColumnElement[Any], key: str, kind: str
    ) -> tuple[Bool, ColumnElement[Any]]:
        """Return (the value at ``key`` has JSON type ``kind``, that value) for JSON ``col``.

        The type test is never NULL, and the value is not NULL when the test holds, so the
        pair makes a two-valued predicate. Comparisons are type-strict: the text "5" is not
        the number 5, and JSON null counts as missing.
        """
        if self.dialect == "postgresql":
            typ: ColumnElement[Any] = sa.func.jsonb_typeof(
                sa.func.jsonb_extract_path(col, sa.literal(key, sa.Text))
            )
            text = sa.func.jsonb_extract_path_text(col, sa.literal(key, sa.Text))
            if kind == "any":
                return sa.func.coalesce(typ, "null") != "null", text
            pg_type = {"string": "string", "number": "number", "bool": "boolean"}[kind]
            is_kind = sa.func.coalesce(typ, "") == pg_type
            if kind == "number":  # cast only numbers: a text cast to float would raise
                return is_kind, sa.case((typ == "number", sa.cast(text, sa.Float)))
            return is_kind, text
        path = sa.literal(f'$."{key}"', sa.String)
        typ = sa.func.json_type(col, path)
        val = sa.func.json_extract(col, path)
        if kind == "any":
            return sa.func.coalesce(typ, "null") != "null", val
        types = {"string": ["text"], "number": ["integer", "real"], "bool": ["true", "false"]}
        is_kind = sa.func.coalesce(typ, "").in_(types[kind])
        return is_kind, (typ if kind == "bool" else val)

    def json_value(self, col: ColumnElement[Any], key: str) -> ColumnElement[Any]:
        """Return the value at ``key`` of JSON ``col`` as display text (NULL when missing)."""
        if self.dialect == "postgresql":
            typ: ColumnElement[Any] = sa.func.jsonb_typeof(
                sa.func.jsonb_extract_path(col, sa.literal(key, sa.Text))
            )
            text = sa.func.jsonb_extract_path_text(col, sa.literal(key, sa.Text))
            return sa.case((typ != "null", text))
        path = sa.literal(f'$."{key}"', sa.String)
        typ = sa.func.json_type(col, path)
        val = sa.func.json_extract(col, path)
        display = sa.case((typ.in_(["true", "false"]), typ), else_=sa.cast(val, sa.String))
        return sa.case((typ != "null", display))

    def json_predicate(self, col: ColumnElement[Any], key: str, pred: Predicate) -> Bool:
        """Return ``pred`` on the JSON value at ``key`` of ``col``."""
        if pred.op in {"exists", "not_exists"}:
            present, value = self._json_parts(col, key, "any")
            return self.predicate(value, pred, present=present)
        if pred.kind == "bool":
            present, value = self._json_parts(col, key, "bool")
            as_text = Predicate("string", pred.op, "true" if pred.value else "false")
            return self.predicate(value, as_text, present=present)
        present, value = self._json_parts(col, key, pred.kind)
        return self.predicate(value, pred, present=present)

    # -- conditions ---------------------------------------------------------------------------

    def field_expr(self, name: str) -> ColumnElement[Any]:
        """Return the expression of a profile field or custom attribute (as display text)."""
        if name.startswith("attributes."):
            return self.json_value(contacts.c.attributes, name.split(".", 1)[1])
        if name not in PROFILE_FIELDS:
            raise ValidationFailed(
                "unknown field", field="by", value=name, allowed=sorted(PROFILE_FIELDS)
            )
        return contacts.c[PROFILE_FIELDS[name][0]]

    def _field(self, node: FieldCond) -> Bool:
        key = node.attribute
        if key is not None:
            return self.json_predicate(contacts.c.attributes, key, node.pred)
        return self.predicate(contacts.c[PROFILE_FIELDS[node.field][0]], node.pred)

    def _window(self, col: ColumnElement[Any], window: Window | None) -> list[Bool]:
        if window is None:
            return []
        start, end = window.bounds(self.at)
        out: list[Bool] = []
        if start is not None:
            out.append(col >= start)
        if end is not None:
            out.append(col < end)
        return out

    def _consent(self, node: ConsentCond) -> sa.Select[Any]:
        return sa.select(consent_state.c.contact_id).where(
            consent_state.c.workspace_id == self.workspace_id,
            consent_state.c.channel == node.channel,
            consent_state.c.purpose == node.purpose,
            consent_state.c.status == node.status,
        )

    def _aggregate(
        self, base: sa.Select[Any], agg: ColumnElement[Any], pred: Predicate, zero: Any
    ) -> Bool:
        """Return "the contact's aggregate satisfies ``pred``" from grouped ``base``.

        ``zero`` is the aggregate of a contact with no rows (0 for counts and sums, None when
        undefined); when it satisfies ``pred`` the complement is excluded instead.
        """
        if self.restrict is not None:
            contact_col = base.selected_columns[0]
            base = base.where(contact_col.in_(sa.select(self.restrict.c.contact_id)))
        if not _zero_holds(pred, zero):
            return contacts.c.id.in_(base.having(self.predicate(agg, pred, nullable=False)))
        failing = base.having(sa.not_(self.predicate(agg, pred, nullable=False)))
        if self.dialect == "postgresql":
            sub = failing.subquery()
            return ~sa.exists().where(sub.c.contact_id == contacts.c.id)
        return contacts.c.id.not_in(failing)

    def _aggregate_parts(self, node: Node) -> tuple[sa.Select[Any], ColumnElement[Any], Predicate]:
        """Return (grouped select of contact_id, aggregate, predicate) of an event or order
        condition (bought conditions: a count of matching items, at least one)."""
        if isinstance(node, EventCond):
            return self._event_base(node), sa.func.count(), node.count
        if isinstance(node, OrdersCond):
            base, agg, _ = self._orders_parts(node)
            return base, agg, node.pred
        assert isinstance(node, BoughtCond)
        base = self._bought(node).group_by(orders.c.contact_id)
        return base, sa.func.count(), Predicate("number", "gte", 1)

    def observed(self, node: Node) -> ColumnElement[Any] | None:
        """Return the contact's value that ``node`` tests (a field, an event count, an order
        total, a trait), for explanations; None for conditions that are only true or false."""
        if isinstance(node, FieldCond):
            key = node.attribute
            if key is not None:
                return self.json_value(contacts.c.attributes, key)
            return contacts.c[PROFILE_FIELDS[node.field][0]]
        if isinstance(node, EventCond):
            where = self._event_base(node).whereclause
            assert where is not None
            per_contact = sa.select(sa.func.count()).where(
                where, events.c.contact_id == contacts.c.id
            )
            return per_contact.scalar_subquery()
        if isinstance(node, OrdersCond):
            base, agg, zero = self._orders_parts(node)
            where = base.whereclause
            assert where is not None
            value = agg if zero is None else sa.func.coalesce(agg, zero)
            q = sa.select(value).where(where, orders.c.contact_id == contacts.c.id)
            return q.scalar_subquery()
        if isinstance(node, TraitCond):
            col = sa.func.coalesce(
                contact_traits.c.value_text, sa.cast(contact_traits.c.value_num, sa.String)
            )
            return (
                sa.select(col)
                .where(
                    contact_traits.c.contact_id == contacts.c.id,
                    contact_traits.c.name == node.name,
                )
                .scalar_subquery()
            )
        return None

    def _event_base(self, node: EventCond) -> sa.Select[Any]:
        where = [
            events.c.workspace_id == self.workspace_id,
            events.c.name == node.name,
            *self._window(events.c.occurred_at, node.window),
            *(self.json_predicate(events.c.properties, f.property, f.pred) for f in node.where),
        ]
        return sa.select(events.c.contact_id).where(*where).group_by(events.c.contact_id)

    def _event(self, node: EventCond) -> Bool:
        return self._aggregate(self._event_base(node), sa.func.count(), node.count, 0)

    def _orders_parts(self, node: OrdersCond) -> tuple[sa.Select[Any], ColumnElement[Any], Any]:
        base = (
            sa.select(orders.c.contact_id)
            .where(
                orders.c.workspace_id == self.workspace_id,
                *self._window(orders.c.placed_at, node.window),
            )
            .group_by(orders.c.contact_id)
        )
        aggs: dict[str, tuple[ColumnElement[Any], Any]] = {
            "count": (sa.func.count(), 0),
            "total": (sa.func.sum(orders.c.total), 0),
            "average": (sa.func.avg(orders.c.total), None),
            "last_order_at": (sa.func.max(orders.c.placed_at), None),
        }
        agg, zero = aggs[node.metric]
        return base, agg, zero

    def _orders(self, node: OrdersCond) -> Bool:
        base, agg, zero = self._orders_parts(node)
        return self._aggregate(base, agg, node.pred, zero)

    def _bought(self, node: BoughtCond) -> sa.Select[Any]:
        item_match = []
        if node.skus:
            item_match.append(order_items.c.sku.in_(node.skus))
        if node.categories:
            item_match.append(order_items.c.category.in_(node.categories))
        return (
            sa.select(orders.c.contact_id)
            .join(order_items, order_items.c.order_id == orders.c.id)
            .where(
                orders.c.workspace_id == self.workspace_id,
                sa.or_(*item_match),
                *self._window(orders.c.placed_at, node.window),
            )
        )

    def _trait(self, node: TraitCond) -> Bool:
        pred = node.pred.positive()
        col = contact_traits.c.value_num if pred.kind == "number" else contact_traits.c.value_text
        sub = sa.select(contact_traits.c.contact_id).where(
            contact_traits.c.workspace_id == self.workspace_id,
            contact_traits.c.name == node.name,
        )
        if pred.op != "exists":  # a trait exists whether it holds a number or a text
            sub = sub.where(self.predicate(col, pred))
        cond = contacts.c.id.in_(sub)
        return sa.not_(cond) if node.pred.negated else cond

    def _segment(self, node: SegmentCond) -> Bool:
        from clarion.segments.rules import parse

        sid = node.segment_id
        where = node.path if self.outer_path is None else self.outer_path
        fpath = f"{where}.segment_id" if where else "segment_id"
        if sid in self.stack:
            chain = " -> ".join(str(s) for s in [*self.stack, sid])
            raise ValidationFailed(
                f"{fpath}: segment membership forms a cycle ({chain})",
                field=fpath,
                value=sid,
                reason="cycle",
            )
        rules = self.load_segment(sid)
        if rules is None:
            raise ValidationFailed(
                f"{fpath}: no segment {sid} in this workspace",
                field=fpath,
                value=sid,
                reason="unknown segment",
            )
        self.stack.append(sid)
        saved, self.outer_path = self.outer_path, where
        try:
            return self.compile(parse(rules))
        finally:
            self.stack.pop()
            self.outer_path = saved


_CTE_SEQ = itertools.count(1)
_ORDER_ZERO = {"count": 0, "total": 0, "average": None, "last_order_at": None}


def _zero_holds(pred: Predicate, zero: Any) -> bool:
    """Return whether a contact without rows satisfies ``pred`` (its aggregate is ``zero``).

    No rows: a count or sum is 0; an average or a date is missing, which only negative
    operators accept (as for any missing value).
    """
    return pred.negated if zero is None else _py_holds(pred, zero)


def _driver_rank(node: Node) -> int | None:
    """Return how selective an aggregate condition is likely to be (lower: fewer contacts),
    or None when it cannot drive a semi-join reduction (not an aggregate, or satisfied by
    contacts without rows, whose set is the complement)."""
    if isinstance(node, EventCond) and not _zero_holds(node.count, 0):
        return 0 if node.window is not None else 2
    if isinstance(node, BoughtCond):
        return 1 if node.window is not None else 4
    if isinstance(node, OrdersCond) and not _zero_holds(node.pred, _ORDER_ZERO[node.metric]):
        return 3 if node.window is not None else 5
    return None


def _py_holds(pred: Predicate, x: Any) -> bool:
    """Return whether the number ``x`` satisfies the numeric ``pred`` (used for zero values)."""
    if pred.op == "between":
        lo, hi = pred.value
        return bool(lo <= x <= hi)
    if pred.op in _PY_OPS:
        return bool(_PY_OPS[pred.op](x, pred.value))
    return False
