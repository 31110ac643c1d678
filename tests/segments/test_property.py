"""The compiled SQL agrees with a plain Python evaluator on random people and random rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings
from sqlalchemy.engine import Engine
from tests.segments.evaluator import evaluate
from tests.segments.factory import AT, Person, insert_people

from clarion.segments.query import audience_query
from clarion.segments.rules import parse

DAY = timedelta(days=1)
# Offsets that sit on and around the window boundaries used by the rules below.
OFFSETS = [
    -40 * DAY,
    -30 * DAY,
    -30 * DAY + timedelta(seconds=1),
    -10 * DAY,
    -DAY,
    timedelta(0),
    timedelta(hours=1),
]
STRINGS = ["gold", "Gold", "silver", "ann", "ANNa", "Jo ann", "bob", "é"]


def json_scalar() -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(STRINGS), st.integers(-2, 6), st.booleans(), st.none())


def person() -> st.SearchStrategy[Person]:
    when = st.sampled_from(OFFSETS).map(lambda d: AT + d)
    event = st.tuples(
        st.sampled_from(["purchase", "view"]),
        when,
        st.dictionaries(st.sampled_from(["amount", "path"]), json_scalar(), max_size=2),
    )
    order = st.tuples(
        when,
        st.integers(0, 12).map(lambda q: q * 12.5),
        st.lists(
            st.tuples(st.sampled_from(["A1", "B2"]), st.sampled_from(["Shoes", "Hats", None])),
            max_size=2,
        ),
    )
    return st.builds(
        Person,
        country=st.sampled_from(["US", "GB", "FR", None]),
        first_name=st.sampled_from([*STRINGS, None]),
        phone_carrier=st.sampled_from(["Vodafone", "AT&T", None]),
        created_at=when,
        attributes=st.dictionaries(st.sampled_from(["plan", "score"]), json_scalar(), max_size=2),
        tags=st.sets(st.sampled_from(["vip", "new"]), max_size=2),
        consent=st.dictionaries(
            st.sampled_from([("sms", "marketing"), ("email", "marketing")]),
            st.sampled_from(["opted_in", "opted_out"]),
            max_size=2,
        ),
        events=st.lists(event, max_size=4),
        orders=st.lists(order, max_size=3),
        traits=st.dictionaries(
            st.just("churn"), st.sampled_from([0.1, 0.5, 0.9, "high"]), max_size=1
        ),
    )


def window() -> st.SearchStrategy[dict[str, Any] | None]:
    return st.one_of(
        st.none(),
        st.just({"days": 30}),
        st.just({"from": "-10d", "to": "now"}),
        st.just({"from": (AT - 30 * DAY).isoformat()}),
    )


def scalar_pred(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    if kind == "number":
        v = st.integers(-1, 5)
        return st.one_of(
            st.builds(
                lambda o, x: {"op": o, "value": x},
                st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]),
                v,
            ),
            st.builds(lambda a, b: {"op": "between", "value": sorted([a, b])}, v, v),
            st.builds(lambda xs: {"op": "in", "value": xs}, st.lists(v, min_size=1, max_size=2)),
        )
    if kind == "bool":
        return st.builds(
            lambda o, b: {"op": o, "value": b}, st.sampled_from(["eq", "ne"]), st.booleans()
        )
    s = st.sampled_from([*STRINGS, "AN", "o"])
    return st.one_of(
        st.builds(
            lambda o, x: {"op": o, "value": x},
            st.sampled_from(["eq", "ne", "contains", "not_contains"]),
            s,
        ),
        st.builds(
            lambda o, xs: {"op": o, "value": xs},
            st.sampled_from(["in", "not_in"]),
            st.lists(s, min_size=1, max_size=2),
        ),
    )


def leaf(*, behaviour_only: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    exists = st.sampled_from([{"op": "exists"}, {"op": "not_exists"}])
    field = st.one_of(
        st.builds(
            lambda f, p: {"field": f, **p},
            st.sampled_from(["country", "first_name", "phone.carrier"]),
            st.one_of(scalar_pred("string"), exists),
        ),
        st.builds(
            lambda k, p: {"field": f"attributes.{k}", **p},
            st.sampled_from(["plan", "score"]),
            st.one_of(scalar_pred("string"), scalar_pred("number"), scalar_pred("bool"), exists),
        ),
        st.builds(
            lambda o, d: {"field": "created_at", "op": o, "value": d},
            st.sampled_from(["gt", "gte", "lt", "lte"]),
            st.sampled_from(["-30d", "-1d", "now", (AT - 10 * DAY).isoformat()]),
        ),
    )
    count = st.one_of(
        st.builds(
            lambda o, n: {"op": o, "count": n},
            st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]),
            st.integers(0, 3),
        ),
        st.builds(
            lambda a, b: {"op": "between", "count": sorted([a, b])},
            st.integers(0, 3),
            st.integers(0, 3),
        ),
    )
    prop_filter = st.builds(
        lambda k, p: {"property": k, **p},
        st.sampled_from(["amount", "path"]),
        st.one_of(scalar_pred("number"), scalar_pred("string"), exists),
    )
    event = st.builds(
        lambda name, c, w, where: {
            "type": "event",
            "name": name,
            **c,
            **({"window": w} if w else {}),
            **({"where": where} if where else {}),
        },
        st.sampled_from(["purchase", "view"]),
        count,
        window(),
        st.lists(prop_filter, max_size=1),
    )
    money = st.sampled_from([0, 12.5, 25, 50, 100])
    order_pred = st.one_of(
        st.builds(
            lambda m, o, v: {"metric": m, "op": o, "value": v},
            st.sampled_from(["count", "total", "average"]),
            st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]),
            money,
        ),
        st.builds(
            lambda o, d: {"metric": "last_order_at", "op": o, "value": d},
            st.sampled_from(["gt", "gte", "lt", "lte"]),
            st.sampled_from(["-30d", "-1d"]),
        ),
    )
    orders = st.builds(
        lambda p, w: {"type": "orders", **p, **({"window": w} if w else {})}, order_pred, window()
    )
    bought = st.builds(
        lambda k, v, w: {"type": "bought", k: v, **({"window": w} if w else {})},
        st.sampled_from(["sku", "category"]),
        st.sampled_from(["A1", "Shoes", "Hats"]),
        window(),
    )
    if behaviour_only:
        return st.one_of(event, orders, bought)
    return st.one_of(
        field,
        event,
        orders,
        bought,
        st.builds(lambda t: {"type": "tag", "tag": t}, st.sampled_from(["vip", "new"])),
        st.builds(
            lambda c, s: {"type": "consent", "channel": c, "purpose": "marketing", "status": s},
            st.sampled_from(["sms", "email"]),
            st.sampled_from(["opted_in", "opted_out"]),
        ),
        st.builds(
            lambda o, v: {"type": "trait", "name": "churn", "op": o, "value": v},
            st.sampled_from(["gte", "lt", "eq", "ne"]),
            st.sampled_from([0.1, 0.5]),
        ),
        st.builds(
            lambda o: {"type": "trait", "name": "churn", "op": o, "value": "high"},
            st.sampled_from(["eq", "ne", "exists", "not_exists"]),
        ),
    )


rules = st.recursive(
    leaf(),
    lambda inner: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, inner),
    ),
    max_leaves=6,
)


#: Conjunctions of behaviour conditions, where the compiler reduces one aggregate by another.
conjunctions = st.builds(
    lambda xs, extra: {"all": xs + extra},
    st.lists(leaf(behaviour_only=True), min_size=2, max_size=3),
    st.lists(
        st.one_of(leaf(), st.builds(lambda x: {"not": x}, leaf(behaviour_only=True))), max_size=1
    ),
)
PROPERTY = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def check(engine: Engine, workspace_id: int, people: list[Person], rule: dict[str, Any]) -> None:
    """Assert that the SQL and the plain evaluator pick the same people."""
    # given random people written to the database (rolled back after each example)
    with engine.connect() as conn:
        tx = conn.begin()
        try:
            insert_people(conn, workspace_id, people)
            # when the rule is compiled and run
            q = audience_query(conn, workspace_id, [rule], at=AT)
            got = set(conn.execute(q).scalars())
        finally:
            tx.rollback()
    # then the members are exactly those the plain evaluator picks
    node = parse(rule)
    expected = {p.id for p in people if evaluate(node, p, AT, {})}
    assert got == expected, rule


@PROPERTY
@given(people=st.lists(person(), min_size=1, max_size=6), rule=rules)
def test_sql_matches_the_python_evaluator(
    engine: Engine, workspace_id: int, people: list[Person], rule: dict[str, Any]
) -> None:
    check(engine, workspace_id, people, rule)


@PROPERTY
@given(people=st.lists(person(), min_size=2, max_size=8), rule=conjunctions)
def test_conjunctions_of_behaviour_match_the_python_evaluator(
    engine: Engine, workspace_id: int, people: list[Person], rule: dict[str, Any]
) -> None:
    check(engine, workspace_id, people, rule)
