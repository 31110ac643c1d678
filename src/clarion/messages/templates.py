"""Sandboxed SMS templates: compile (and lint) once, render per recipient with a prepared context.

The engine is Jinja's ``ImmutableSandboxedEnvironment`` with ``StrictUndefined`` and autoescape
off (SMS is plain text). The filters and functions a template may use are a fixed, registered
set; anything else is an error when the template is saved (see :mod:`clarion.messages.lint`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from jinja2 import TemplateSyntaxError, UndefinedError, pass_context
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from clarion.db.types import utcnow
from clarion.errors import ValidationFailed
from clarion.messages.formatting import FILTERS
from clarion.messages.lint import ContextSchema, Problem, lint_tree

__all__ = [
    "CompiledTemplate",
    "ContextSchema",
    "LocalizedTemplate",
    "Problem",
    "TemplateError",
    "compile_template",
    "contact_context",
    "locale_chain",
    "set_helper_hook",
    "set_link_hook",
]

LinkHook = Callable[[str, Mapping[str, Any]], str]

#: Jinja's own filters that are safe and useful in a text message.
_BUILTIN_FILTERS = [
    "abs",
    "capitalize",
    "first",
    "int",
    "float",
    "join",
    "last",
    "length",
    "lower",
    "replace",
    "round",
    "string",
    "title",
    "trim",
    "truncate",
    "upper",
    "wordcount",
]
_TESTS = frozenset(
    [
        "defined",
        "undefined",
        "none",
        "number",
        "string",
        "even",
        "odd",
        "divisibleby",
        "eq",
        "ne",
        "lt",
        "le",
        "gt",
        "ge",
        "in",
    ]
)


class TemplateError(ValidationFailed):
    """A template that does not compile, lint or render; fields say where (line, column, name)."""

    code = "template_invalid"


def _unchanged(url: str, _context: Mapping[str, Any]) -> str:
    return url


_link_hook: LinkHook = _unchanged


def set_link_hook(fn: LinkHook | None) -> None:
    """Install the function that turns ``link(url)`` into a (tracked, short) link.

    The measurement feature installs its shortener here; ``None`` restores the default, which
    returns the URL unchanged. The hook gets the URL and the render context (contact, event...).
    """
    global _link_hook
    _link_hook = fn or _unchanged


@pass_context
def _link(ctx: Context, url: str) -> str:
    return _link_hook(str(url), ctx.parent)


HelperHook = Callable[..., Any]
#: Helpers whose data lives in another feature, installed by it (see :func:`set_helper_hook`):
#: ``recommend(n)`` products for the contact, ``also_bought(sku, n)`` products bought with a
#: product, ``trait(name)`` one of the contact's computed traits. Until installed they give
#: nothing (an empty list, None), so a template using them still renders.
_HELPER_DEFAULTS: dict[str, HelperHook] = {
    "recommend": lambda _ctx, n=3: [],
    "also_bought": lambda _ctx, sku, n=3: [],
    "trait": lambda _ctx, name, default=None: default,
}
_helper_hooks: dict[str, HelperHook] = dict(_HELPER_DEFAULTS)


def set_helper_hook(name: str, fn: HelperHook | None) -> None:
    """Install the function behind template helper ``name`` (``None`` restores the default).

    The function gets the render context (contact, event...) and the template's arguments. The
    intelligence feature installs ``recommend``, ``also_bought`` and ``trait``, so messages
    never imports it.
    """
    if name not in _HELPER_DEFAULTS:
        raise ValueError(f"unknown template helper {name!r}")
    _helper_hooks[name] = fn or _HELPER_DEFAULTS[name]


def _helper(name: str) -> Callable[..., Any]:
    @pass_context
    def call(ctx: Context, *args: Any) -> Any:
        return _helper_hooks[name](ctx.parent, *args)

    return call


class _SmsEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox with a fast path for the plain dicts render contexts are made of.

    ``contact.first_name`` on a dict is a key lookup first: no AttributeError raised and caught
    per access (the sandbox's generic path), and ``order.items`` means the data, not the
    ``dict.items`` method. Anything else takes the sandbox's checked path.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


def _make_env() -> ImmutableSandboxedEnvironment:
    env = _SmsEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        finalize=lambda v: "" if v is None else v,
        auto_reload=False,
        cache_size=0,
    )
    builtin = env.filters
    env.filters = {name: builtin[name] for name in _BUILTIN_FILTERS}
    env.filters.update(FILTERS)
    env.tests = {name: env.tests[name] for name in _TESTS}
    env.globals = {"link": _link, **{name: _helper(name) for name in _HELPER_DEFAULTS}}
    return env


ENV = _make_env()
FUNCTIONS = frozenset(ENV.globals)
FILTER_NAMES = frozenset(ENV.filters)


def _error(problems: list[Problem], label: str | None = None) -> TemplateError:
    first = problems[0]
    where = f" in variant {label!r}" if label else ""
    return TemplateError(
        f"template{where} has {len(problems)} problem(s); first at line {first.line}, "
        f"column {first.column}: {first.message}",
        line=first.line,
        column=first.column,
        name=first.name,
        variant=label,
        problems=[p.as_dict() for p in problems],
    )


class CompiledTemplate:
    """A linted, compiled template; :meth:`render` is the per-recipient hot path."""

    __slots__ = ("_render", "source", "used", "warnings")

    def __init__(
        self, source: str, render: Callable[..., Any], used: set[str], warnings: list[Problem]
    ):
        self.source = source
        self._render = render
        self.used = frozenset(used)
        self.warnings = warnings

    def render(self, context: Mapping[str, Any]) -> str:
        """Return the text for one recipient's prepared context (see :func:`contact_context`)."""
        try:
            return str(self._render(context))
        except UndefinedError as exc:
            raise TemplateError(
                f"missing value at send time: {exc.message}", name=str(exc.message)
            ) from None
        except SecurityError as exc:
            raise TemplateError(f"refused by the sandbox: {exc}", name=str(exc)) from None


def lint(source: str, known: ContextSchema | None = None) -> tuple[list[Problem], set[str]]:
    """Return every problem in ``source`` (errors and warnings) and the fields it uses."""
    try:
        tree = ENV.parse(source)
    except TemplateSyntaxError as exc:
        line = exc.lineno or 1
        return [Problem(line, 1, "syntax", f"syntax error: {exc.message}")], set()
    return lint_tree(
        tree,
        source,
        known or ContextSchema(),
        filters=FILTER_NAMES,
        tests=frozenset(ENV.tests),
        functions=FUNCTIONS,
    )


def compile_template(source: str, *, known: ContextSchema | None = None) -> CompiledTemplate:
    """Lint and compile ``source``; raise TemplateError listing every error found.

    ``known`` is the context schema to check variables against; by default the contact's
    profile fields, the standard event and order fields and no custom attributes.
    """
    problems, used = lint(source, known)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise _error(errors)
    template = ENV.from_string(source)
    root, new_context = template.root_render_func, template.new_context
    concat = ENV.concat

    functions = dict(ENV.globals)

    def render(context: Mapping[str, Any]) -> Any:
        # One flat dict of functions + context, handed over as shared: Jinja's default merges
        # the template's globals ChainMap on every render, which costs more than the render.
        return concat(root(new_context({**functions, **context}, shared=True)))

    return CompiledTemplate(source, render, used, [p for p in problems if p.severity != "error"])


def locale_chain(tag: str | None) -> list[str]:
    """Return the lookup order for a locale tag: ``zh-Hant-TW`` -> zh-hant-tw, zh-hant, zh."""
    if not tag:
        return []
    parts = tag.replace("_", "-").lower().split("-")
    return ["-".join(parts[:i]) for i in range(len(parts), 0, -1)]


class LocalizedTemplate:
    """One template in several locale variants with fallback (zh-CN -> zh -> default)."""

    __slots__ = ("default", "variants")

    def __init__(self, default: CompiledTemplate, variants: Mapping[str, CompiledTemplate]):
        self.default = default
        self.variants = {k.replace("_", "-").lower(): v for k, v in variants.items()}

    @classmethod
    def compile(
        cls,
        body: str,
        variants: Mapping[str, str] | None = None,
        *,
        known: ContextSchema | None = None,
    ) -> LocalizedTemplate:
        """Compile the default body and every variant; raise TemplateError naming the variant."""
        default = compile_template(body, known=known)
        compiled: dict[str, CompiledTemplate] = {}
        for tag, source in (variants or {}).items():
            try:
                compiled[tag] = compile_template(source, known=known)
            except TemplateError as exc:
                raise _error([Problem(**p) for p in exc.fields["problems"]], tag) from None
        return cls(default, compiled)

    def pick(self, locale: str | None) -> CompiledTemplate:
        """Return the variant for ``locale``, falling back to shorter tags, then the default."""
        for tag in locale_chain(locale):
            found = self.variants.get(tag)
            if found is not None:
                return found
        return self.default

    def render(self, context: Mapping[str, Any]) -> str:
        """Render the variant matching the context's ``_locale``."""
        return self.pick(context.get("_locale")).render(context)


def contact_context(
    contact: Mapping[str, Any],
    *,
    extra: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    default_locale: str | None = None,
    default_timezone: str | None = None,
) -> dict[str, Any]:
    """Return the render context for a contact (as ``clarion.contacts.service.get_contact`` gives).

    Top-level names: ``contact`` (profile fields), ``attributes`` (custom attributes), ``tags``,
    ``now``, and whatever ``extra`` adds (``event``, ``order``, ``campaign``...). The recipient's
    locale, zone and currency go under ``_locale``, ``_tz`` and ``_currency`` for the filters.
    """
    attrs = contact.get("attributes") or {}
    tags = contact.get("tags") or []
    ctx: dict[str, Any] = {
        "contact": dict(contact),
        "attributes": dict(attrs),
        "tags": list(tags),
        "now": now or utcnow(),
        "event": None,
        "order": None,
        "_locale": contact.get("locale") or default_locale,
        "_tz": contact.get("timezone") or contact.get("phone_timezone") or default_timezone,
        "_currency": attrs.get("currency") if isinstance(attrs, Mapping) else None,
    }
    if extra:
        ctx.update(extra)
        order = extra.get("order")
        if isinstance(order, Mapping) and order.get("currency"):
            ctx["_currency"] = order["currency"]
    return ctx
