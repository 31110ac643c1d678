"""Templates: defaults, locale formatting, zones, lint positions, the sandbox, variants, preview."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from clarion.messages.encoding import count
from clarion.messages.preview import preview, preview_many
from clarion.messages.templates import (
    ContextSchema,
    LocalizedTemplate,
    TemplateError,
    compile_template,
    contact_context,
    locale_chain,
    set_link_hook,
)

NOW = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)


def ctx(**contact: Any) -> dict[str, Any]:
    contact.setdefault("id", 1)
    contact.setdefault("phone", "+15551234567")
    return contact_context(contact, now=NOW)


def test_defaults_fill_missing_none_and_empty_values() -> None:
    # given a greeting with a default
    t = compile_template('Hi {{ contact.first_name | default("there") }}!')
    # then a name is used, and a missing, None or empty one falls back
    assert t.render(ctx(first_name="Ana")) == "Hi Ana!"
    assert t.render(ctx()) == "Hi there!"
    assert t.render(ctx(first_name=None)) == "Hi there!"
    assert t.render(ctx(first_name="")) == "Hi there!"


def test_custom_attributes_and_order_data() -> None:
    schema = ContextSchema(attributes=frozenset({"tier"}))
    t = compile_template(
        "{{ attributes.tier | upper }}: order {{ order.number }} ships", known=schema
    )
    c = contact_context({"id": 1, "attributes": {"tier": "gold"}}, extra={"order": {"number": 7}})
    assert t.render(c) == "GOLD: order 7 ships"


@pytest.mark.parametrize(
    ("locale", "number", "money", "day"),
    [
        ("en-US", "1,234,567.891", "$1,234.50", "Nov 23, 2026"),
        ("de-DE", "1.234.567,891", "1.234,50 $", "23.11.2026"),
        ("fr-FR", "1 234 567,891", "1 234,50 $US", "23 nov. 2026"),
        ("zh-CN", "1,234,567.891", "US$1,234.50", "2026年11月23日"),
    ],
)
def test_numbers_money_and_dates_follow_the_recipient_locale(
    locale: str, number: str, money: str, day: str
) -> None:
    # given a template using the formatting filters
    t = compile_template("{{ 1234567.891 | number }}|{{ 1234.5 | currency }}|{{ now | date }}")
    # when rendered for a recipient in Shanghai's zone (23:30 UTC is already the 23rd there)
    out = t.render(ctx(locale=locale, timezone="Asia/Shanghai"))
    # then each part follows the locale
    assert out.split("|") == [number, money, day]


def test_formatted_values_never_force_ucs2_with_no_break_spaces() -> None:
    # given French formatting, where CLDR uses narrow no-break spaces
    t = compile_template("Total {{ 1234.5 | currency('EUR') }} le {{ now | date('short') }}")
    text = t.render(ctx(locale="fr-FR"))
    # then the text stays GSM-7
    assert text == "Total 1 234,50 € le 22/11/2026"
    assert count(text)[0] == "gsm7"


def test_currency_code_comes_from_the_order_and_digits_are_fixed() -> None:
    t = compile_template("{{ order.total | currency }} / {{ 2.5 | number(2) }}")
    c = contact_context(
        {"id": 1, "locale": "zh-CN"}, extra={"order": {"total": 88, "currency": "CNY"}}
    )
    assert t.render(c) == "¥88.00 / 2.50"


def test_times_are_shown_in_the_recipient_zone() -> None:
    t = compile_template('{{ now | datetime("yyyy-MM-dd HH:mm") }}')
    assert t.render(ctx(timezone="America/New_York")) == "2026-11-22 18:30"
    assert t.render(ctx(timezone="Asia/Tokyo")) == "2026-11-23 08:30"
    assert t.render(ctx()) == "2026-11-22 23:30"  # no zone known: UTC


def test_lint_reports_every_problem_with_line_column_and_name() -> None:
    source = (
        "Hi {{ contact.frist_name }}\n{{ contact.first_name | shout }} {{ coupon }}\n{{ foo() }}"
    )
    # when compiled
    with pytest.raises(TemplateError) as err:
        compile_template(source)
    # then every problem is listed where it is
    problems = [(p["line"], p["column"], p["name"]) for p in err.value.fields["problems"]]
    assert problems == [
        (1, 7, "contact.frist_name"),
        (2, 25, "shout"),
        (2, 37, "coupon"),
        (3, 4, "foo"),
    ]
    assert err.value.fields["line"] == 1 and err.value.fields["column"] == 7
    assert err.value.code == "template_invalid" and err.value.http_status == 422


def test_syntax_errors_are_reported_with_their_line() -> None:
    with pytest.raises(TemplateError) as err:
        compile_template("ok\n{{ contact.first_name ")
    assert err.value.fields["line"] == 2 and err.value.fields["name"] == "syntax"


def test_unknown_values_are_fine_with_a_default_and_optional_ones_warn() -> None:
    t = compile_template('{{ coupon | default("none") }} {{ contact.first_name }}')
    assert [(w.name, w.severity) for w in t.warnings] == [("contact.first_name", "warning")]
    assert t.render(ctx(first_name="Li")) == "none Li"


def test_dict_fields_win_over_dict_methods() -> None:
    # given an order whose field is called like a dict method
    t = compile_template("{{ order.items | length }} items, {{ order.items[0].sku }}")
    c = contact_context({"id": 1}, extra={"order": {"items": [{"sku": "A"}, {"sku": "B"}]}})
    # then the data is used, not dict.items
    assert t.render(c) == "2 items, A"


def test_loop_and_set_variables_are_not_unknown() -> None:
    t = compile_template(
        "{% set n = order['items'] | length %}{{ n }}:"
        "{% for it in order['items'] %}{{ it.sku }}{{ loop.index }} {% endfor %}"
    )
    c = contact_context({"id": 1}, extra={"order": {"items": [{"sku": "A"}, {"sku": "B"}]}})
    assert t.render(c) == "2:A1 B2 "


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ contact.__class__.__mro__ }}",
        "{{ ''['__class__'] }}",
        "{{ 'x'.upper() }}",
        "{{ cycler }}",
    ],
)
def test_sandbox_escapes_are_refused_when_saved(source: str) -> None:
    with pytest.raises(TemplateError):
        compile_template(source)


def test_the_sandbox_still_refuses_at_render_time() -> None:
    # given a context value that is not plain data, reached past the linter by subscript
    t = compile_template("{{ contact[k] }}", known=ContextSchema(extra=frozenset({"k"})))
    # then the sandbox refuses the private attribute lookup (StrictUndefined reports it)
    with pytest.raises(TemplateError):
        t.render({"contact": "text", "k": "__class__"})


def test_missing_value_at_render_is_a_template_error() -> None:
    t = compile_template("{{ order.total }}")
    with pytest.raises(TemplateError, match="missing value"):
        t.render(ctx())  # no order given


@pytest.fixture
def shortener() -> Iterator[list[tuple[str, Any]]]:
    calls: list[tuple[str, Any]] = []

    def hook(url: str, context: Mapping[str, Any]) -> str:
        calls.append((url, context["contact"]["id"]))
        return f"https://s.test/{context['contact']['id']}"

    set_link_hook(hook)
    yield calls
    set_link_hook(None)


def test_link_is_unchanged_by_default_and_pluggable(shortener: list[tuple[str, Any]]) -> None:
    t = compile_template('Shop {{ link("https://shop.example/sale?x=1") }}')
    assert t.render(ctx(id=42)) == "Shop https://s.test/42"
    assert shortener == [("https://shop.example/sale?x=1", 42)]
    set_link_hook(None)
    assert t.render(ctx(id=42)) == "Shop https://shop.example/sale?x=1"


def test_a_link_to_a_variable_url_is_a_warning() -> None:
    t = compile_template("{{ link(order.url | default('https://shop.example')) }}")
    assert [(w.name, w.message) for w in t.warnings] == [
        ("link", "link() target is not a fixed URL")
    ]


def test_locale_variants_fall_back_from_region_to_language_to_default() -> None:
    # given an English default and Chinese variants
    lt = LocalizedTemplate.compile(
        "Hi {{ contact.first_name | default('there') }}",
        {"zh-CN": "{{ contact.first_name | default('您') }}好", "zh": "你好（通用）"},
    )
    # then the closest variant wins
    assert lt.render(ctx(locale="zh-CN", first_name="李")) == "李好"
    assert lt.render(ctx(locale="zh_TW")) == "你好（通用）"
    assert lt.render(ctx(locale="de-DE")) == "Hi there"
    assert lt.render(ctx()) == "Hi there"
    assert locale_chain("zh-Hant-TW") == ["zh-hant-tw", "zh-hant", "zh"]


def test_a_bad_variant_is_reported_by_name() -> None:
    with pytest.raises(TemplateError) as err:
        LocalizedTemplate.compile("ok", {"fr": "{{ nope }}"})
    assert err.value.fields["variant"] == "fr" and err.value.fields["name"] == "nope"


def test_preview_one_and_many() -> None:
    t = compile_template("Hi {{ contact.first_name | default('there') }}! " + "x" * 140)
    # one recipient
    p = preview(t, ctx(first_name="Bo"), price_per_part=0.0075)
    assert (p["encoding"], p["units"], p["parts"], p["cost"]) == ("gsm7", 147, 1, 0.0075)
    # many: a long name and a Chinese name push some over one part
    names = ["Al", "Bo", "Cy", "Maximiliano-Alejandro", "李"]
    summary = preview_many(t, [ctx(first_name=n) for n in names], price_per_part=0.01)
    assert summary["count"] == 5
    assert summary["typical"]["parts"] == 1 and summary["typical"]["cost"] == 0.01
    assert summary["worst"]["parts"] == 3 and summary["worst"]["cost"] == 0.03
    assert summary["encodings"] == {"gsm7": 4, "ucs2": 1}
    assert summary["total_parts"] == 1 + 1 + 1 + 2 + 3
