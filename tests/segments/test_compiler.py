"""Edge semantics of the compiled rules, fixed by example on both databases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from tests.segments.factory import AT, Person, insert_people

from clarion.segments.query import audience_query

DAY = timedelta(days=1)


def members(
    engine: Engine, workspace_id: int, people: list[Person], rule: dict[str, Any]
) -> set[str]:
    """Return the first names of the people the rule selects (data rolled back afterwards)."""
    with engine.connect() as conn:
        tx = conn.begin()
        try:
            insert_people(conn, workspace_id, people)
            ids = set(conn.execute(audience_query(conn, workspace_id, [rule], at=AT)).scalars())
        finally:
            tx.rollback()
    return {p.first_name or "" for p in people if p.id in ids}


def test_windows_include_their_start_and_exclude_their_end(
    engine: Engine, workspace_id: int
) -> None:
    # given purchases exactly 30 days ago, just before that, and exactly at the evaluation time
    people = [
        Person(first_name="start", events=[("purchase", AT - 30 * DAY, {})]),
        Person(
            first_name="before", events=[("purchase", AT - 30 * DAY - timedelta(seconds=1), {})]
        ),
        Person(first_name="end", events=[("purchase", AT, {})]),
        Person(first_name="inside", events=[("purchase", AT - DAY, {})]),
    ]
    rule = {"type": "event", "name": "purchase", "op": "gte", "count": 1, "window": {"days": 30}}
    # then the window is [at - 30 days, at)
    assert members(engine, workspace_id, people, rule) == {"start", "inside"}


def test_at_most_includes_people_without_any_event(engine: Engine, workspace_id: int) -> None:
    people = [
        Person(first_name="none"),
        Person(first_name="one", events=[("view", AT - DAY, {})]),
        Person(first_name="three", events=[("view", AT - DAY, {})] * 3),
        Person(first_name="old", events=[("view", AT - 90 * DAY, {})] * 3),
    ]
    rule = {"type": "event", "name": "view", "op": "lte", "count": 1, "window": {"days": 30}}
    assert members(engine, workspace_id, people, rule) == {"none", "one", "old"}


def test_contains_folds_ascii_case_only(engine: Engine, workspace_id: int) -> None:
    people = [
        Person(first_name="ANNA"),
        Person(first_name="joanne"),
        Person(first_name="ÉLODIE"),
        Person(first_name="bob"),
        Person(),
    ]
    assert members(
        engine, workspace_id, people, {"field": "first_name", "op": "contains", "value": "aNn"}
    ) == {"ANNA", "joanne"}
    # "é" does not match "É": only ASCII letters fold, identically on both databases
    assert (
        members(
            engine, workspace_id, people, {"field": "first_name", "op": "contains", "value": "é"}
        )
        == set()
    )


def test_negative_operators_hold_for_missing_values(engine: Engine, workspace_id: int) -> None:
    people = [
        Person(first_name="us", country="US"),
        Person(first_name="gb", country="GB"),
        Person(first_name="unknown"),
    ]
    assert members(
        engine, workspace_id, people, {"field": "country", "op": "ne", "value": "US"}
    ) == {"gb", "unknown"}
    assert members(
        engine, workspace_id, people, {"not": {"field": "country", "op": "eq", "value": "US"}}
    ) == {"gb", "unknown"}
    assert members(
        engine, workspace_id, people, {"field": "country", "op": "in", "value": ["us", "gb"]}
    ) == {"us", "gb"}


def test_attribute_comparisons_are_type_strict(engine: Engine, workspace_id: int) -> None:
    people = [
        Person(first_name="num", attributes={"score": 5}),
        Person(first_name="text", attributes={"score": "5"}),
        Person(first_name="null", attributes={"score": None}),
        Person(first_name="bool", attributes={"score": True}),
        Person(first_name="none"),
    ]
    got = members(
        engine, workspace_id, people, {"field": "attributes.score", "op": "gte", "value": 5}
    )
    assert got == {"num"}
    got = members(engine, workspace_id, people, {"field": "attributes.score", "op": "exists"})
    assert got == {"num", "text", "bool"}
    got = members(
        engine, workspace_id, people, {"field": "attributes.score", "op": "eq", "value": True}
    )
    assert got == {"bool"}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"type": "orders", "metric": "total", "op": "lt", "value": 60}, {"none", "small"}),
        ({"type": "orders", "metric": "total", "op": "gte", "value": 60}, {"big"}),
        ({"type": "orders", "metric": "average", "op": "lt", "value": 60}, {"small"}),
        ({"type": "orders", "metric": "count", "op": "eq", "value": 0}, {"none"}),
        ({"type": "orders", "metric": "last_order_at", "op": "gte", "value": "-7d"}, {"big"}),
        ({"type": "bought", "category": "Shoes", "window": {"days": 30}}, {"big"}),
    ],
)
def test_order_metrics(
    engine: Engine, workspace_id: int, rule: dict[str, Any], expected: set[str]
) -> None:
    people = [
        Person(first_name="none"),
        Person(first_name="small", orders=[(AT - 60 * DAY, 50.0, [("S1", "Shoes")])]),
        Person(
            first_name="big",
            orders=[(AT - DAY, 100.0, [("S1", "Shoes")]), (AT - 60 * DAY, 20.0, [])],
        ),
    ]
    assert members(engine, workspace_id, people, rule) == expected


def test_event_property_filters(engine: Engine, workspace_id: int) -> None:
    people = [
        Person(first_name="big", events=[("purchase", AT - DAY, {"amount": 120})]),
        Person(first_name="small", events=[("purchase", AT - DAY, {"amount": 20})]),
        Person(first_name="text", events=[("purchase", AT - DAY, {"amount": "120"})]),
    ]
    rule = {
        "type": "event",
        "name": "purchase",
        "where": [{"property": "amount", "op": "gt", "value": 100}],
    }
    assert members(engine, workspace_id, people, rule) == {"big"}


def test_traits_compare_numbers_or_texts_and_exist_either_way(
    engine: Engine, workspace_id: int
) -> None:
    people = [
        Person(first_name="risky", traits={"churn": 0.9}),
        Person(first_name="safe", traits={"churn": 0.1}),
        Person(first_name="labelled", traits={"churn": "unknown"}),
        Person(first_name="none"),
    ]
    rule = {"type": "trait", "name": "churn", "op": "gte", "value": 0.5}
    assert members(engine, workspace_id, people, rule) == {"risky"}
    rule = {"type": "trait", "name": "churn", "op": "exists"}
    assert members(engine, workspace_id, people, rule) == {"risky", "safe", "labelled"}
    rule = {"type": "trait", "name": "churn", "op": "ne", "value": "unknown"}
    assert members(engine, workspace_id, people, rule) == {"risky", "safe", "none"}
