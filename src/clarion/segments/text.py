"""The compact text form of rules, for the command line, and its rendering back from a tree.

Examples::

    country in [US,GB] and event(purchase) >= 2 within 90d and orders.total > 100 and not tag(vip)
    attributes.plan = "gold" or (trait(churn_risk) >= 0.7 and consent(sms, marketing))
    event(page_view, path contains "/shoes") between 1 and 3 within 30d
    bought(category:"Running Shoes") within 8w and orders.last_order_at >= -90d
    segment(12) and not phone.carrier exists

:func:`parse_text` returns the JSON rule document (then validated by ``rules.parse``), so both
forms share one set of checks and error messages.
"""

from __future__ import annotations

import json
import re
from typing import Any

from clarion.errors import ValidationFailed
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
)

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>>=|<=|!=|==|=|>|<)
      | (?P<punct>[()\[\],])
      | (?P<word>[^\s()\[\],=!<>"']+)
    )""",
    re.VERBOSE,
)
_SYMBOLS = {"=": "eq", "==": "eq", "!=": "ne", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
_OP_SYMBOLS = {v: k for k, v in _SYMBOLS.items() if k != "=="}


class _Tok:
    def __init__(self, kind: str, text: str, pos: int) -> None:
        self.kind, self.text, self.pos = kind, text, pos

    @property
    def low(self) -> str:
        return self.text.lower() if self.kind == "word" else self.text


def _tokenize(src: str) -> list[_Tok]:
    out, pos = [], 0
    while pos < len(src):
        if src[pos:].strip() == "":
            break
        m = _TOKEN.match(src, pos)
        if m is None or m.end() == pos:
            raise _err(src, pos, f"unexpected character {src[pos:].strip()[:1]!r}")
        kind = m.lastgroup or "word"
        out.append(_Tok(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return out


def _err(src: str, pos: int, reason: str) -> ValidationFailed:
    return ValidationFailed(
        f"text rule, at character {pos + 1}: {reason}",
        field="text",
        value=src,
        position=pos + 1,
        reason=reason,
    )


class _Parser:
    def __init__(self, src: str) -> None:
        self.src, self.toks, self.i = src, _tokenize(src), 0

    # -- token helpers ----------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> _Tok | None:
        j = self.i + ahead
        return self.toks[j] if j < len(self.toks) else None

    def fail(self, reason: str) -> ValidationFailed:
        tok = self.peek()
        return _err(self.src, tok.pos if tok else len(self.src), reason)

    def next(self, what: str = "more input") -> _Tok:
        tok = self.peek()
        if tok is None:
            raise self.fail(f"expected {what}, found the end")
        self.i += 1
        return tok

    def accept(self, text: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.low == text:
            self.i += 1
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.accept(text):
            tok = self.peek()
            raise self.fail(f"expected {text!r}, found {tok.text if tok else 'the end'!r}")

    # -- grammar ----------------------------------------------------------------------------
    def parse(self) -> dict[str, Any]:
        doc = self.expr()
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek().text!r}")  # type: ignore[union-attr]
        return doc

    def expr(self) -> dict[str, Any]:
        items = [self.conj()]
        while self.accept("or"):
            items.append(self.conj())
        return items[0] if len(items) == 1 else {"any": items}

    def conj(self) -> dict[str, Any]:
        items = [self.unary()]
        while self.accept("and"):
            items.append(self.unary())
        return items[0] if len(items) == 1 else {"all": items}

    def unary(self) -> dict[str, Any]:
        if self.accept("not"):
            return {"not": self.unary()}
        if self.accept("("):
            doc = self.expr()
            self.expect(")")
            return doc
        return self.condition()

    def scalar(self, *, raw: bool = False) -> Any:
        tok = self.next("a value")
        if tok.kind == "str":
            return json.loads(tok.text) if tok.text[0] == '"' else tok.text[1:-1]
        if tok.kind != "word":
            raise _err(self.src, tok.pos, f"expected a value, found {tok.text!r}")
        if raw:
            return tok.text
        if tok.low in {"true", "false"}:
            return tok.low == "true"
        try:
            return int(tok.text)
        except ValueError:
            pass
        try:
            return float(tok.text)
        except ValueError:
            return tok.text

    def value(self, *, raw: bool = False) -> Any:
        if self.accept("["):
            items = [self.scalar(raw=raw)]
            while self.accept(","):
                items.append(self.scalar(raw=raw))
            self.expect("]")
            return items
        return self.scalar(raw=raw)

    def predicate(self, *, raw: bool = False) -> dict[str, Any]:
        """Parse ``op value`` after a field: = != > >= < <= in, not in, contains, exists."""
        tok = self.next("an operator")
        if tok.kind == "op":
            return {"op": _SYMBOLS[tok.text], "value": self.scalar(raw=raw)}
        word = tok.low
        if word == "not":
            nxt = self.next("in, contains or exists").low
            if nxt == "exists":
                return {"op": "not_exists"}
            if nxt in {"in", "contains"}:
                return {"op": f"not_{nxt}", "value": self.value(raw=raw)}
            raise _err(self.src, tok.pos, "expected 'not in', 'not contains' or 'not exists'")
        if word == "exists":
            return {"op": "exists"}
        if word in {"in", "contains"}:
            return {"op": word, "value": self.value(raw=raw)}
        if word == "between":
            lo = self.scalar(raw=raw)
            self.expect("and")
            return {"op": "between", "value": [lo, self.scalar(raw=raw)]}
        raise _err(self.src, tok.pos, f"expected an operator, found {tok.text!r}")

    def window(self) -> dict[str, Any] | None:
        if self.accept("within"):
            tok = self.next("a period such as 90d or 12w")
            m = re.fullmatch(r"(\d+)([dw])", tok.low)
            if m is None:
                raise _err(self.src, tok.pos, f"expected a period such as 90d or 12w: {tok.text!r}")
            n = int(m.group(1)) * (7 if m.group(2) == "w" else 1)
            return {"days": n}
        if self.accept("since"):
            return {"from": self.scalar(raw=True)}
        if self.accept("until"):
            return {"to": self.scalar(raw=True)}
        head = self.peek()
        if head is not None and head.low == "from":
            self.i += 1
            start = self.scalar(raw=True)
            self.expect("to")
            return {"from": start, "to": self.scalar(raw=True)}
        return None

    def args(self) -> list[list[_Tok]]:
        """Parse ``( a, b c, ... )`` into the tokens of each argument."""
        self.expect("(")
        out: list[list[_Tok]] = [[]]
        depth = 0
        while True:
            tok = self.next("')'")
            if tok.text == ")" and tok.kind == "punct" and depth == 0:
                break
            if tok.kind == "punct" and tok.text in "([":
                depth += 1
            elif tok.kind == "punct" and tok.text in ")]":
                depth -= 1
            if tok.kind == "punct" and tok.text == "," and depth == 0:
                out.append([])
            else:
                out[-1].append(tok)
        return out

    def sub(self, toks: list[_Tok]) -> _Parser:
        p = _Parser.__new__(_Parser)
        p.src, p.toks, p.i = self.src, toks, 0
        return p

    def condition(self) -> dict[str, Any]:
        tok = self.next("a condition")
        if tok.kind != "word":
            raise _err(self.src, tok.pos, f"expected a condition, found {tok.text!r}")
        word = tok.low
        nxt = self.peek()
        call = nxt is not None and nxt.text == "("
        if call and word == "tag":
            (arg,) = self._single(self.args(), tok, "tag(name)")
            return {"type": "tag", "tag": str(self.sub(arg).scalar(raw=True))}
        if call and word == "segment":
            (arg,) = self._single(self.args(), tok, "segment(id)")
            return {"type": "segment", "segment_id": self.sub(arg).scalar()}
        if call and word == "consent":
            parts = [str(self.sub(a).scalar(raw=True)) for a in self.args()]
            if len(parts) not in (2, 3):
                raise _err(self.src, tok.pos, "consent(channel, purpose[, status])")
            doc = {"type": "consent", "channel": parts[0], "purpose": parts[1]}
            return doc | ({"status": parts[2]} if len(parts) == 3 else {})
        if call and word == "trait":
            (arg,) = self._single(self.args(), tok, "trait(name)")
            return {"type": "trait", "name": self.sub(arg).scalar(raw=True), **self.predicate()}
        if call and word == "event":
            return self._event(tok)
        if call and word == "bought":
            return self._bought(tok)
        if word.startswith("orders."):
            doc = {"type": "orders", "metric": tok.text.split(".", 1)[1], **self.predicate()}
            if doc["metric"] == "last_order_at" and "value" in doc:
                doc["value"] = str(doc["value"])
            w = self.window()
            return doc | ({"window": w} if w else {})
        raw = tok.text in PROFILE_FIELDS and PROFILE_FIELDS[tok.text][1] != "number"
        return {"field": tok.text, **self.predicate(raw=raw)}

    def _single(self, args: list[list[_Tok]], tok: _Tok, form: str) -> list[list[_Tok]]:
        if len(args) != 1 or not args[0]:
            raise _err(self.src, tok.pos, f"expected {form}")
        return args

    def _event(self, tok: _Tok) -> dict[str, Any]:
        args = self.args()
        if not args[0]:
            raise _err(self.src, tok.pos, "expected event(name[, property op value ...])")
        doc: dict[str, Any] = {"type": "event", "name": self.sub(args[0]).scalar(raw=True)}
        where = []
        for a in args[1:]:
            p = self.sub(a)
            prop = p.next("a property").text
            where.append({"property": prop, **p.predicate()})
        if where:
            doc["where"] = where
        nxt = self.peek()
        if nxt is not None and (nxt.kind == "op" or nxt.low == "between"):
            pred = self.predicate()
            doc["op"] = pred["op"]
            doc["count"] = pred["value"]
        else:
            doc["op"], doc["count"] = "gte", 1
        w = self.window()
        return doc | ({"window": w} if w else {})

    def _bought(self, tok: _Tok) -> dict[str, Any]:
        doc: dict[str, Any] = {"type": "bought"}
        for a in self.args():
            text = "".join(t.text for t in a[:1])
            key, _, rest = text.partition(":")
            if key not in {"sku", "category"}:
                raise _err(self.src, tok.pos, "expected bought(sku:X) or bought(category:Y)")
            value = rest if rest else self.sub(a[1:]).scalar(raw=True)
            doc.setdefault(key, []).append(value)
        w = self.window()
        return doc | ({"window": w} if w else {})


def parse_text(src: str) -> dict[str, Any]:
    """Return the JSON rule document written in the compact text form ``src``."""
    if not src.strip():
        raise _err(src, 0, "an empty rule")
    return _Parser(src).parse()


# -- rendering ---------------------------------------------------------------------------------


def _looks_scalar(v: str) -> bool:
    if v.lower() in {"true", "false", "and", "or", "not"}:
        return True
    try:
        float(v)
    except ValueError:
        return False
    return True


def _lit(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(_lit(x) for x in v) + "]"
    if isinstance(v, str) and (not re.fullmatch(r"[A-Za-z0-9_.:+\-/@]+", v) or _looks_scalar(v)):
        return json.dumps(v)
    return str(v)


def _pred(p: Predicate) -> str:
    if p.op in {"exists", "not_exists"}:
        return p.op.replace("_", " ")
    if p.op == "between":
        return f"between {_lit(p.value[0])} and {_lit(p.value[1])}"
    word = _OP_SYMBOLS.get(p.op, p.op.replace("_", " "))
    return f"{word} {_lit(p.value)}"


def _window(w: Window | None) -> str:
    if w is None:
        return ""
    if w.days is not None:
        return f" within {w.days}d"
    if w.start is not None and w.end is not None:
        return f" from {_lit(w.start)} to {_lit(w.end)}"
    if w.start is not None:
        return f" since {_lit(w.start)}"
    return f" until {_lit(w.end)}"


def _unwrap(node: Node) -> Node:
    while isinstance(node, Group) and len(node.children) == 1:
        node = node.children[0]
    return node


def _compound(node: Node) -> bool:
    node = _unwrap(node)
    return isinstance(node, Group) and len(node.children) > 1


def to_text(node: Node) -> str:
    """Return ``node`` in the compact text form (parsable again by :func:`parse_text`)."""
    if isinstance(node, Group) and len(node.children) == 1:
        return to_text(node.children[0])
    if isinstance(node, Group):
        sep = " and " if node.match == "all" else " or "
        return sep.join(f"({to_text(c)})" if _compound(c) else to_text(c) for c in node.children)
    if isinstance(node, Not):
        inner = to_text(node.child)
        return f"not ({inner})" if _compound(node.child) else f"not {inner}"
    if isinstance(node, FieldCond):
        return f"{node.field} {_pred(node.pred)}"
    if isinstance(node, TagCond):
        return f"tag({_lit(node.tag)})"
    if isinstance(node, ConsentCond):
        return f"consent({node.channel}, {node.purpose}, {node.status})"
    if isinstance(node, EventCond):
        props = "".join(f", {f.property} {_pred(f.pred)}" for f in node.where)
        return f"event({_lit(node.name)}{props}) {_pred(node.count)}{_window(node.window)}"
    if isinstance(node, OrdersCond):
        return f"orders.{node.metric} {_pred(node.pred)}{_window(node.window)}"
    if isinstance(node, BoughtCond):
        items = [f"sku:{_lit(s)}" for s in node.skus] + [
            f"category:{_lit(c)}" for c in node.categories
        ]
        return f"bought({', '.join(items)}){_window(node.window)}"
    if isinstance(node, TraitCond):
        return f"trait({node.name}) {_pred(node.pred)}"
    if isinstance(node, SegmentCond):
        return f"segment({node.segment_id})"
    raise TypeError(f"unknown rule node {node!r}")  # pragma: no cover
