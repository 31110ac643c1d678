"""Render a variant for one recipient and count its encoding and parts.

Parts are counted by ``clarion.messages.encoding.count`` (GSM-7 / UCS-2, escape sequences and
surrogate pairs never split). Variants render with a sandboxed Jinja2 template compiled once per
variant, so a million recipients cost a million renders, not a million compilations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from clarion.messages.encoding import count

Renderer = Callable[[Mapping[str, Any]], str]

_ENV = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)


_SIMPLE = re.compile(r"{{\s*([A-Za-z_][A-Za-z0-9_]*)\s*}}")


def compile_body(body: str) -> Renderer:
    """Compile a variant's body once; return a function rendering it for one context.

    Bodies that only substitute plain names (``{{ first_name }}``) take a fast path that gives
    what Jinja2 gives (a missing name renders empty) at a tenth of the cost; anything else
    (filters, conditions, loops) renders with the sandboxed Jinja2 template.
    """
    if "{" not in body:  # plain text: rendering is the identity
        return lambda _ctx: body
    template = _ENV.from_string(body)  # also validates the syntax of every body
    pieces = _SIMPLE.split(body)
    if any(m in p for p in pieces[::2] for m in ("{{", "}}", "{%", "%}", "{#", "#}")):
        return lambda ctx: template.render(ctx)
    texts, names = pieces[::2], pieces[1::2]

    def render(ctx: Mapping[str, Any]) -> str:
        out = [texts[0]]
        for name, text in zip(names, texts[1:], strict=True):
            value = ctx.get(name)
            out.append("" if value is None and name not in ctx else str(value))
            out.append(text)
        return "".join(out)

    return render


def names_used(body: str) -> set[str]:
    """Return the context names a body reads (to fetch only what rendering needs)."""
    return set(meta.find_undeclared_variables(_ENV.parse(body)))


def count_parts(text: str) -> tuple[str, int]:
    """Return the encoding ("gsm7" or "ucs2") and the number of parts of ``text``."""
    encoding, _units, parts = count(text)
    return encoding, parts
