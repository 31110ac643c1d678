"""Variant rendering: the fast path for plain names gives exactly what Jinja2 gives."""

from __future__ import annotations

from typing import Any

import pytest
from jinja2.sandbox import SandboxedEnvironment

from clarion.campaigns.text import compile_body, count_parts

CTX: dict[str, Any] = {"first_name": "Zoë", "n": 3, "empty": "", "none": None}


@pytest.mark.parametrize(
    "body",
    [
        "plain text",
        "Hi {{ first_name }}!",
        "{{first_name}}{{n}} and {{ missing }} and {{ empty }} and {{ none }}",
        "{% if n > 2 %}many{% else %}few{% endif %} {{ first_name | upper }}",
        "{{ first_name }} {# a comment #}",
    ],
)
def test_rendering_matches_jinja(body: str) -> None:
    expected = SandboxedEnvironment().from_string(body).render(CTX)
    assert compile_body(body)(CTX) == expected


def test_parts_are_counted_by_the_text_engine() -> None:
    assert count_parts("a" * 160) == ("gsm7", 1)
    assert count_parts("a" * 161) == ("gsm7", 2)
    assert count_parts("€" * 80) == ("gsm7", 1)
    assert count_parts("ç" * 71) == ("ucs2", 2)
