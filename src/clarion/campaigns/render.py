"""A campaign variant's text for each recipient, in the one template language of Clarion.

Variants are templates of :mod:`clarion.messages.templates` (nested ``contact.*`` context,
sandboxed, linted when the campaign is saved, locale variants with fallback). This module adds
what planning a million recipients needs around it: the contact columns a variant reads (so the
planner fetches only those), contexts built straight from the planner's rows, and part counting.

One optimisation lives here, not a second language: a variant whose text is only literal text
and plain ``{{ contact.field }}`` / ``{{ attributes.name }}`` substitutions (no filter, test or
function) is evaluated by joining strings, which is about ten times cheaper than running the
compiled Jinja template and gives the same text (None renders empty, a missing name is the same
TemplateError). Anything else renders through the compiled template.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any, cast

from jinja2 import nodes

from clarion.messages.encoding import count
from clarion.messages.lint import ContextSchema
from clarion.messages.templates import (
    ENV,
    CompiledTemplate,
    LocalizedTemplate,
    TemplateError,
)

#: Columns of ``contacts`` a template may read as ``contact.<name>``.
CONTACT_COLUMNS = (
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
    "created_at",
)
#: Sample recipient for test sends and previews (every field a template commonly reads).
SAMPLE_CONTACT: dict[str, Any] = {
    "id": 0,
    "external_id": "sample",
    "first_name": "Alex",
    "last_name": "Sample",
    "phone": "+12025550100",
    "phone_region": "US",
    "phone_type": "mobile",
    "email": "alex@example.com",
    "locale": "en",
    "country": "US",
    "timezone": "America/New_York",
    "created_at": None,
    "attributes": {},
    "tags": [],
    "identities": {},
}

Render = Callable[[Mapping[str, Any]], str]


class VariantText:
    """A variant's default text and locale texts, compiled once; renders one recipient."""

    __slots__ = (
        "_fast",
        "columns",
        "has_locales",
        "localized",
        "name",
        "reads_identities",
        "reads_tags",
        "source",
        "used",
        "uses_currency",
        "uses_link",
        "values",
    )

    def __init__(self, name: str, localized: LocalizedTemplate) -> None:
        self.name = name
        self.localized = localized
        self.source = localized.default.source
        self.has_locales = bool(localized.variants)
        templates = [localized.default, *localized.variants.values()]
        self.used: frozenset[str] = frozenset().union(*(t.used for t in templates))
        #: ``contacts`` columns the texts read as ``contact.<column>``, and their values of a row
        self.columns = contact_columns(self.used)
        self.values: Callable[[Any], tuple[Any, ...]] = _getter(self.columns)
        self.reads_tags = bool({"tags", "contact.tags", "contact"} & self.used)
        self.reads_identities = bool({"contact.identities", "contact"} & self.used)
        trees = [ENV.parse(t.source) for t in templates]
        called = {n.node.name for tree in trees for n in tree.find_all(nodes.Call)
                  if isinstance(n.node, nodes.Name)}  # fmt: skip
        filtered = {n.name for tree in trees for n in tree.find_all(nodes.Filter)}
        self.uses_link = "link" in called
        #: the ``currency`` filter reads the recipient's currency from their attributes
        self.uses_currency = "currency" in filtered
        self._fast: dict[int, Render | None] = {id(t): _fast_path(t) for t in templates}

    def render(self, context: Mapping[str, Any]) -> str:
        """Return the text for the recipient of ``context`` (see :func:`recipient_context`)."""
        template = self.localized.pick(context.get("_locale"))
        fast = self._fast[id(template)]
        return fast(context) if fast is not None else template.render(context)


def compile_variant(
    name: str, body: str, locales: Mapping[str, str] | None = None, *, known: ContextSchema
) -> VariantText:
    """Lint and compile a variant; raise TemplateError naming the variant (and the locale)."""
    try:
        localized = LocalizedTemplate.compile(body, dict(locales or {}), known=known)
    except TemplateError as exc:
        exc.fields["campaign_variant"] = name
        exc.message = f"variant {name!r}: {exc.message}"
        exc.args = (exc.message,)
        raise
    return VariantText(name, localized)


def contact_columns(used: frozenset[str]) -> list[str]:
    """Return the ``contacts`` columns the templates read (``contact.x`` for a column x)."""
    if "contact" in used:  # the whole contact dict: every column
        return list(CONTACT_COLUMNS)
    return [c for c in CONTACT_COLUMNS if f"contact.{c}" in used]


def recipient_context(
    contact: dict[str, Any],
    attributes: Mapping[str, Any],
    *,
    now: datetime,
    locale: str | None,
    zone: str | None,
) -> dict[str, Any]:
    """Return the render context of one recipient, shaped as
    :func:`clarion.messages.templates.contact_context` shapes it (``contact``, ``attributes``,
    ``tags``, ``now``, ``event``, ``order`` and the ``_locale``/``_tz``/``_currency`` the
    filters read), from what the planner fetched."""
    return {
        "contact": contact,
        "attributes": attributes,
        "tags": contact.get("tags") or [],
        "now": now,
        "event": None,
        "order": None,
        "_locale": locale,
        "_tz": zone,
        "_currency": attributes.get("currency"),
    }


def _getter(columns: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    """Return a function giving a row's values of ``columns`` as a tuple (one C call)."""
    if not columns:
        return lambda _row: ()
    if len(columns) == 1:
        name = columns[0]
        return lambda row: (getattr(row, name),)
    return cast(Callable[[Any], tuple[Any, ...]], attrgetter(*columns))


def count_parts(text: str) -> tuple[str, int]:
    """Return the encoding ("gsm7" or "ucs2") and the number of parts of ``text``."""
    encoding, _units, parts = count(text)
    return encoding, parts


_NAMESPACES = ("contact", "attributes")


def _fast_path(template: CompiledTemplate) -> Render | None:
    """Return a string-joining renderer for a template of plain substitutions, else None."""
    tree = ENV.parse(template.source)
    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return None if tree.body else (lambda _ctx: "")
    texts: list[str] = []
    names: list[tuple[str, str]] = []
    pending = ""
    for node in tree.body[0].nodes:
        if isinstance(node, nodes.TemplateData):
            pending += node.data
        elif (
            isinstance(node, nodes.Getattr)
            and isinstance(node.node, nodes.Name)
            and node.node.name in _NAMESPACES
            and node.ctx == "load"
        ):
            texts.append(pending)
            names.append((node.node.name, node.attr))
            pending = ""
        else:
            return None
    texts.append(pending)
    return _joiner(template, texts, names)


def _joiner(
    template: CompiledTemplate, texts: Sequence[str], names: Sequence[tuple[str, str]]
) -> Render:
    first, rest = texts[0], list(zip(names, texts[1:], strict=True))

    def render(ctx: Mapping[str, Any]) -> str:
        out = [first]
        for (space, attr), text in rest:
            holder = ctx[space]
            if type(holder) is not dict or attr not in holder:
                return template.render(ctx)  # the template says what is missing, as always
            value = holder[attr]
            out.append("" if value is None else str(value))
            out.append(text)
        return "".join(out)

    return render
