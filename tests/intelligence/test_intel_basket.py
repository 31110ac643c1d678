"""Basket rules: exact support/confidence/lift, stored, browsable, usable in templates."""

from __future__ import annotations

import numpy as np
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.contacts.service import get_contact
from clarion.intelligence import basket, sample_data, service
from clarion.intelligence import features as F
from clarion.intelligence.template_helpers import Helpers
from clarion.messages.templates import compile_template, contact_context
from clarion.segments import query

from .conftest import NOW


def test_rules_carry_exact_support_confidence_and_lift() -> None:
    # given 10 orders: bread+butter in 4, bread alone in 2, butter alone in 1, jam alone in 3
    orders = [[0, 1]] * 4 + [[0]] * 2 + [[1]] + [[2]] * 3
    order_id = np.array([i for i, o in enumerate(orders) for _ in o])
    item = np.array([p for o in orders for p in o])
    x = basket.incidence(order_id, item, 3)
    # when mined with low thresholds
    rules = basket.mine(x, min_support=0.0, min_orders=1, min_confidence=0.0, min_lift=0.0)
    # then bread -> butter: support 4/10, confidence 4/6, lift (4/6) / (5/10)
    pairs = {
        (int(a), int(b)): (s, c, lf)
        for a, b, s, c, lf in zip(
            rules.antecedent,
            rules.consequent,
            rules.support,
            rules.confidence,
            rules.lift,
            strict=True,
        )
    }
    s, c, lf = pairs[(0, 1)]
    assert (s, round(c, 6), round(lf, 6)) == (0.4, round(4 / 6, 6), round((4 / 6) / 0.5, 6))
    s, c, lf = pairs[(1, 0)]
    assert (round(c, 6), round(lf, 6)) == (0.8, round(0.8 / 0.6, 6))
    # and jam, never bought with anything, is in no rule
    assert all(2 not in k for k in pairs)


def test_a_product_listed_twice_in_one_order_counts_once() -> None:
    # given one order listing the same product twice, plus a second product
    x = basket.incidence(np.array([7, 7, 7]), np.array([0, 0, 1]), 2)
    # then the incidence is binary
    assert x.toarray().tolist() == [[1.0, 1.0]]


def test_mined_rules_hold_on_later_orders_and_feed_also_bought_in_templates(
    engine: Engine, actor: Actor, shop: sample_data.Loaded, helpers: Helpers
) -> None:
    # given a shop where each product has a companion bought with it 40% of the time
    # when basket rules are mined
    run = service.run(engine, actor, "basket", as_of=NOW, window_days=None, min_orders=8)
    # then the rules found on earlier orders still show lift on later ones
    hold = run["metrics"]["holdout"]
    assert hold["rules_seen_in_test"] > 0 and hold["test_lift_median"] > 1.5
    # and the best rule can be browsed from its antecedent
    top = run["output"]["top_rules"][0]
    with engine.connect() as conn:
        browsed = basket.rules_for(conn, actor.workspace_id, sku=top["antecedent"], limit=5)
        contact = get_contact(conn, actor.workspace_id, shop.contact_ids[0])
    assert browsed[0]["antecedent"] == top["antecedent"]
    assert {r["consequent"] for r in browsed} >= {top["consequent"]}
    # and a template names what people buy with it
    sku = top["antecedent"]
    tpl = compile_template(
        f'{{% for p in also_bought("{sku}", 1) %}}People who buy this also buy {{{{ p.name }}}}'
        "{% endfor %}"
    )
    text = tpl.render(contact_context(contact))
    assert text.startswith("People who buy this also buy Product ")
    # and customers get the next product their latest purchase suggests, as a trait
    assert run["metrics"]["contacts_with_next_sku"] > 0
    with engine.connect() as conn:
        rule = {"type": "trait", "name": "basket_next_sku", "op": "exists"}
        assert (
            query.count(conn, actor.workspace_id, rule) == run["metrics"]["contacts_with_next_sku"]
        )


def test_the_next_product_follows_the_latest_purchase_and_skips_what_is_owned() -> None:
    # given rules 0 -> 1 and 2 -> 3, a contact who bought 0 then 2, one who bought 2 and 3
    rules = basket.Rules(
        np.array([0, 2]),
        np.array([1, 3]),
        np.array([5, 5]),
        np.array([0.1, 0.1]),
        np.array([0.5, 0.6]),
        np.array([2.0, 3.0]),
    )
    lines = F.Lines(
        order_id=np.array([1, 2, 3, 3]),
        contact_id=np.array([10, 10, 20, 20]),
        at=np.array([1.0, 2.0, 1.0, 1.0]),
        item=np.array([0, 2, 2, 3]),
        quantity=np.ones(4),
        skus=np.array(["a", "b", "c", "d"]),
        categories=[None] * 4,
    )
    # when the next purchase is chosen
    nxt = basket.next_purchase(lines, rules, 4)
    # then the first gets the follower of their latest buy, the second nothing (owns it)
    assert nxt == {10: 3}
