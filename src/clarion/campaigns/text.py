"""Render a variant for one recipient and count its encoding and parts.

Parts are counted by ``clarion.messages.encoding.count`` (GSM-7 / UCS-2, escape sequences and
surrogate pairs never split). Variants render with a sandboxed Jinja2 template compiled once per
variant, so a million recipients cost a million renders, not a million compilations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jinja2.sandbox import SandboxedEnvironment

from clarion.messages.encoding import count

Renderer = Callable[[Mapping[str, Any]], str]

_ENV = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)


def compile_body(body: str) -> Renderer:
    """Compile a variant's body once; return a function rendering it for one context."""
    if "{" not in body:  # plain text: rendering is the identity
        return lambda _ctx: body
    template = _ENV.from_string(body)
    return lambda ctx: template.render(ctx)


def count_parts(text: str) -> tuple[str, int]:
    """Return the encoding ("gsm7" or "ucs2") and the number of parts of ``text``."""
    encoding, _units, parts = count(text)
    return encoding, parts
