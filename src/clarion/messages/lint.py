"""Lint a template by walking its AST: every problem is found when it is saved, not at send time.

Checks: syntax; every variable against the context schema (contact fields, attributes, event and
order fields); every filter, test and function against the registered set; attribute names that
start with ``_`` (the way out of a sandbox); method calls (formatting goes through filters).
Jinja's AST has line numbers but no columns, so the column is found by locating the name on
its line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from jinja2 import nodes

#: Profile fields of a contact (clarion.contacts.tables.contacts) a template may use.
CONTACT_FIELDS = frozenset(
    {
        "id",
        "external_id",
        "first_name",
        "last_name",
        "phone",
        "phone_region",
        "phone_type",
        "email",
        "locale",
        "country",
        "timezone",
        "attributes",
        "tags",
        "identities",
        "created_at",
    }
)
EVENT_FIELDS = frozenset({"name", "properties", "occurred_at"})
ORDER_FIELDS = frozenset(
    {"id", "number", "total", "currency", "items", "status", "created_at", "url"}
)


@dataclass(frozen=True, slots=True)
class ContextSchema:
    """What a template may refer to: top-level names and the fields under each."""

    contact_fields: frozenset[str] = CONTACT_FIELDS
    attributes: frozenset[str] = frozenset()
    event_fields: frozenset[str] = EVENT_FIELDS
    order_fields: frozenset[str] = ORDER_FIELDS
    #: further top-level names a caller provides (e.g. ``campaign``), fields unchecked
    extra: frozenset[str] = frozenset()
    #: dotted paths always present; any other field may be missing for some recipient
    always: frozenset[str] = frozenset({"contact.id", "contact.phone", "now", "tags"})
    #: accept any attribute (when the attribute catalogue is unknown)
    open_attributes: bool = False

    def namespaces(self) -> dict[str, frozenset[str] | None]:
        """Return top-level name -> known fields (None: fields not checked)."""
        ns: dict[str, frozenset[str] | None] = {
            "contact": self.contact_fields,
            "attributes": None if self.open_attributes else self.attributes,
            "event": self.event_fields,
            "order": self.order_fields,
            "now": None,
            "tags": None,
        }
        ns.update(dict.fromkeys(self.extra))
        return ns


@dataclass(frozen=True, slots=True)
class Problem:
    """One lint finding, located in the source."""

    line: int
    column: int
    name: str
    message: str
    severity: str = "error"  # or "warning"

    def as_dict(self) -> dict[str, object]:
        """Return the problem as the API and CLI report it."""
        return {
            "line": self.line,
            "column": self.column,
            "name": self.name,
            "message": self.message,
            "severity": self.severity,
        }


@dataclass
class _Walk:
    source_lines: list[str]
    schema: ContextSchema
    filters: frozenset[str]
    tests: frozenset[str]
    functions: frozenset[str]
    local_names: set[str]
    problems: list[Problem] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    _seen: dict[tuple[int, str], int] = field(default_factory=dict)

    def report(self, node: nodes.Node, name: str, message: str, severity: str = "error") -> None:
        line = node.lineno or 1
        self.problems.append(Problem(line, self._column(line, name), name, message, severity))

    def _column(self, line: int, name: str) -> int:
        """Return the 1-based column of the next occurrence of ``name`` on ``line``."""
        text = self.source_lines[line - 1] if 0 < line <= len(self.source_lines) else ""
        key = (line, name)
        start = self._seen.get(key, 0)
        parts = [re.escape(p) for p in name.split(".")]
        m = re.compile(r"\s*[.\[]\s*['\"]?".join(parts)).search(text, start)
        if m is None:
            return 1
        self._seen[key] = m.end()
        return m.start() + 1


def _path(start: nodes.Node) -> tuple[nodes.Name, list[str]] | None:
    """Return the root name and attribute path of ``a.b["c"]``, or None for other shapes."""
    node: nodes.Node
    path: list[str] = []
    node = start
    while True:
        if isinstance(node, nodes.Getattr):
            path.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            path.append(str(node.arg.value))
            node = node.node
        elif isinstance(node, nodes.Name):
            return node, path[::-1]
        else:
            return None


def _children(node: nodes.Node) -> Iterator[nodes.Node]:
    yield from node.iter_child_nodes()


def _visit(w: _Walk, node: nodes.Node, defaulted: bool) -> None:
    if isinstance(node, nodes.Filter):
        if node.name not in w.filters:
            w.report(node, node.name, f"unknown filter {node.name!r}")
        is_default = node.name in ("default", "d")
        if node.node is not None:
            _visit(w, node.node, defaulted or is_default)
        for child in [*node.args, *(kw.value for kw in node.kwargs)]:
            _visit(w, child, defaulted)
        return
    if isinstance(node, nodes.Test):
        if node.name not in w.tests:
            w.report(node, node.name, f"unknown test {node.name!r}")
        # "x is defined" guards x like a default does
        _visit(w, node.node, defaulted or node.name in ("defined", "undefined", "none"))
        for child in node.args:
            _visit(w, child, defaulted)
        return
    if isinstance(node, nodes.Call):
        if isinstance(node.node, nodes.Name) and node.node.name in w.functions:
            fixed = len(node.args) == 1 and isinstance(node.args[0], nodes.Const)
            if node.node.name == "link" and not fixed:
                # Carriers and Chinese providers want fixed, registered URLs, never a variable.
                w.report(node, "link", "link() target is not a fixed URL", "warning")
        elif isinstance(node.node, nodes.Name):
            w.report(node, node.node.name, f"unknown function {node.node.name!r}")
        else:
            w.report(node, _dotted(node.node), "method calls are not allowed; use a filter")
        for child in [*node.args, *(kw.value for kw in node.kwargs)]:
            _visit(w, child, defaulted)
        return
    if isinstance(node, nodes.Getattr | nodes.Getitem | nodes.Name):
        _check_reference(w, node, defaulted)
        return
    for sub in _children(node):
        _visit(w, sub, defaulted)


def _dotted(node: nodes.Node) -> str:
    found = _path(node)
    if found is None:
        return getattr(node, "attr", "?")
    root, path = found
    return ".".join([root.name, *path])


def _check_reference(w: _Walk, node: nodes.Node, defaulted: bool) -> None:
    found = _path(node)
    if found is None:  # e.g. (a ~ b).c or x[y]: check the parts
        attr = getattr(node, "attr", None)
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            attr = str(node.arg.value)
        if attr is not None and attr.startswith("_"):
            w.report(node, attr, f"attribute {attr!r} is not allowed")
        for child in _children(node):
            _visit(w, child, defaulted)
        return
    root, path = found
    if isinstance(node, nodes.Getitem):
        _visit(w, node.arg, defaulted)
    unsafe = [p for p in path if p.startswith("_")]
    if unsafe:
        w.report(node, unsafe[0], f"attribute {unsafe[0]!r} is not allowed")
        return
    if root.ctx != "load" or root.name in w.local_names:
        return
    name = ".".join([root.name, *path[:1]])
    namespaces = w.schema.namespaces()
    if root.name not in namespaces:
        if root.name in w.functions:
            return
        if not defaulted:
            w.report(node, root.name, f"unknown variable {root.name!r}; add | default(...)")
        return
    fields = namespaces[root.name]
    w.used.add(name)
    if path and fields is not None and path[0] not in fields:
        if not defaulted:
            w.report(node, name, f"unknown field {name!r}; add | default(...)")
        return
    if not defaulted and path and name not in w.schema.always and root.name != "tags":
        w.report(node, name, f"{name} may be missing for some recipients", "warning")


def _local_names(tree: nodes.Template) -> set[str]:
    names = {"loop", "true", "false", "none", "True", "False", "None"}
    for n in tree.find_all(nodes.Name):
        if n.ctx in ("store", "param"):
            names.add(n.name)
    return names


def lint_tree(
    tree: nodes.Template,
    source: str,
    schema: ContextSchema,
    *,
    filters: frozenset[str],
    tests: frozenset[str],
    functions: frozenset[str],
) -> tuple[list[Problem], set[str]]:
    """Return the problems in a parsed template and the ``namespace.field`` names it uses."""
    w = _Walk(
        source.splitlines(),
        schema,
        filters,
        tests,
        functions,
        _local_names(tree),
    )
    _visit(w, tree, False)
    w.problems.sort(key=lambda p: (p.line, p.column))
    return w.problems, w.used
