"""Variant texts: the template language of clarion.messages.templates, locale variants, lint."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from clarion.campaigns.render import (
    SAMPLE_CONTACT,
    compile_variant,
    count_parts,
    recipient_context,
)
from clarion.messages.lint import ContextSchema
from clarion.messages.templates import TemplateError, compile_template

OPEN = ContextSchema(open_attributes=True)
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def context(contact: dict[str, Any], attributes: dict[str, Any] | None = None) -> dict[str, Any]:
    return recipient_context(
        contact, attributes or {}, now=NOW, locale=contact.get("locale"), zone=None
    )


CONTACTS: list[dict[str, Any]] = [
    {"first_name": "Zoë", "last_name": None, "id": 7, "locale": "fr"},
    {"first_name": None, "last_name": "Ng", "id": 8, "locale": None},
    {"first_name": "", "last_name": "O'Brien", "id": 9, "locale": "en-GB"},
]


@pytest.mark.parametrize(
    "body",
    [
        "plain text",
        "Hi {{ contact.first_name }}!",
        "{{contact.first_name}}{{ contact.id }} and {{ contact.last_name }} {{ attributes.city }}",
        "{{ contact.first_name }} {# a comment #} end",
        "{% if contact.id > 7 %}many{% else %}few{% endif %} {{ contact.first_name | upper }}",
        "{{ contact.first_name | default('there', true) }}, {{ attributes.city }}",
    ],
)
def test_a_variant_renders_exactly_what_the_compiled_template_renders(body: str) -> None:
    # given a variant (simple substitutions take the string-joining path) and the template
    variant = compile_variant("A", body, known=OPEN)
    template = compile_template(body, known=OPEN)
    for contact in CONTACTS:
        ctx = context(contact, {"city": "Lyon"})
        # when both render the same recipient
        # then the texts are identical
        assert variant.render(ctx) == template.render(ctx)


def test_a_missing_attribute_is_the_same_template_error_on_every_path() -> None:
    # given a variant reading an attribute a recipient does not have
    variant = compile_variant("A", "Hi {{ attributes.city }}", known=OPEN)
    # when it renders for that recipient
    # then the template says what is missing, as the compiled template does
    with pytest.raises(TemplateError, match="city"):
        variant.render(context({"first_name": "Al"}))


def test_a_recipient_gets_the_text_of_their_locale_with_fallback() -> None:
    # given a variant with Spanish and Canadian French texts
    variant = compile_variant(
        "A",
        "Hi {{ contact.first_name }}",
        {"es": "Hola {{ contact.first_name }}", "fr-CA": "Allo {{ contact.first_name }}"},
        known=OPEN,
    )
    # when recipients in various locales render it
    got = {
        loc: variant.render(context({"first_name": "Ana", "locale": loc}))
        for loc in ("es-MX", "fr-CA", "fr-FR", None)
    }
    # then es-MX falls back to es, fr-FR and no locale to the default
    assert got == {"es-MX": "Hola Ana", "fr-CA": "Allo Ana", "fr-FR": "Hi Ana", None: "Hi Ana"}


def test_an_unknown_name_is_refused_naming_the_variant_and_locale() -> None:
    # given a locale text that uses a flat name (the old campaign syntax)
    # when the variant is compiled against the contact schema
    with pytest.raises(TemplateError) as err:
        compile_variant(
            "B", "Hi {{ contact.first_name }}", {"de": "Hallo {{ first_name }}"}, known=OPEN
        )
    # then the error names the variant, the locale, the line and the name
    assert err.value.fields["campaign_variant"] == "B"
    assert err.value.fields["variant"] == "de"
    assert err.value.fields["line"] == 1
    assert "first_name" in str(err.value)


def test_the_sample_contact_renders_every_usual_field() -> None:
    # given a variant reading the usual contact fields
    body = (
        "{{ contact.first_name }} {{ contact.last_name }} {{ contact.phone }} {{ contact.country }}"
    )
    variant = compile_variant("A", body, known=OPEN)
    # when it renders for the sample contact used by test sends
    text = variant.render(context(dict(SAMPLE_CONTACT)))
    # then every field is filled
    assert text == "Alex Sample +12025550100 US"


def test_parts_are_counted_by_the_text_engine() -> None:
    assert count_parts("a" * 160) == ("gsm7", 1)
    assert count_parts("a" * 161) == ("gsm7", 2)
    assert count_parts("€" * 80) == ("gsm7", 1)
    assert count_parts("ç" * 71) == ("ucs2", 2)
