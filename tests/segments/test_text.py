"""The compact text form: parsing, errors with positions, and rendering back."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from tests.segments.test_property import rules

from clarion.errors import ValidationFailed
from clarion.segments.rules import parse
from clarion.segments.text import parse_text, to_text


def test_the_issue_example_parses_to_the_json_form() -> None:
    doc = parse_text(
        "country in [US,GB] and event(purchase) >= 2 within 90d and orders.total > 100 "
        "and not tag(vip)"
    )
    assert doc == {
        "all": [
            {"field": "country", "op": "in", "value": ["US", "GB"]},
            {"type": "event", "name": "purchase", "op": "gte", "count": 2, "window": {"days": 90}},
            {"type": "orders", "metric": "total", "op": "gt", "value": 100},
            {"not": {"type": "tag", "tag": "vip"}},
        ]
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "a = 1 or b = 2 and c = 3",
            {
                "any": [
                    {"field": "a", "op": "eq", "value": 1},
                    {
                        "all": [
                            {"field": "b", "op": "eq", "value": 2},
                            {"field": "c", "op": "eq", "value": 3},
                        ]
                    },
                ]
            },
        ),
        ("external_id = 007", {"field": "external_id", "op": "eq", "value": "007"}),
        ("attributes.vip = true", {"field": "attributes.vip", "op": "eq", "value": True}),
        (
            'phone.carrier not in ["AT&T", Verizon]',
            {"field": "phone.carrier", "op": "not_in", "value": ["AT&T", "Verizon"]},
        ),
        (
            "event(view, path contains shoes) <= 2 from 2026-01-01 to -1d",
            {
                "type": "event",
                "name": "view",
                "op": "lte",
                "count": 2,
                "where": [{"property": "path", "op": "contains", "value": "shoes"}],
                "window": {"from": "2026-01-01", "to": "-1d"},
            },
        ),
        (
            'bought(sku:A1, category:"Running Shoes") within 4w',
            {
                "type": "bought",
                "sku": ["A1"],
                "category": ["Running Shoes"],
                "window": {"days": 28},
            },
        ),
        (
            "consent(sms, marketing, opted_out)",
            {"type": "consent", "channel": "sms", "purpose": "marketing", "status": "opted_out"},
        ),
        (
            "trait(churn_risk) between 0.5 and 1",
            {"type": "trait", "name": "churn_risk", "op": "between", "value": [0.5, 1]},
        ),
    ],
)
def test_text_forms(text: str, expected: dict[str, Any]) -> None:
    assert parse_text(text) == expected


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("country in [US", 15),
        ("country = US and", 17),
        ("(country = US", 14),
        ("event(x) >= 2 within soon", 22),
        ("tag()", 1),
        ("country ~ US", 9),
    ],
)
def test_errors_give_the_position(text: str, position: int) -> None:
    with pytest.raises(ValidationFailed) as err:
        parse_text(text)
    assert err.value.fields["field"] == "text"
    assert err.value.fields["position"] == position


@settings(max_examples=200, deadline=None)
@given(rule=rules)
def test_rendering_is_stable_under_parsing(rule: dict[str, Any]) -> None:
    # given any valid rule tree, rendered as text
    text = to_text(parse(rule))
    # when the text is parsed and rendered again, then nothing changes
    assert to_text(parse(parse_text(text))) == text
