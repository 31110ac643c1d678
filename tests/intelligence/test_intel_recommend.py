"""Recommendations: ALS with fallbacks, evaluated on a time split, served in batches."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.contacts.service import get_contact
from clarion.intelligence import sample_data, service
from clarion.intelligence.recommend import Server
from clarion.intelligence.tables import contact_recommendations
from clarion.intelligence.template_helpers import Helpers
from clarion.messages.templates import compile_template, contact_context
from clarion.traits.service import get_traits

from .conftest import NOW


def test_recommendations_are_evaluated_stored_and_rendered_by_recommend_n(
    engine: Engine, actor: Actor, shop: sample_data.Loaded, helpers: Helpers
) -> None:
    # given a shop whose customers keep to their favourite categories
    # when recommendations are computed
    run = service.run(engine, actor, "recommend", as_of=NOW, window_days=None, n=5)
    m = run["metrics"]
    # then precision@5 and recall@5 are measured on the last 30 days beside a popularity baseline
    assert m["contacts_evaluated"] > 0
    assert 0 < m["precision_at_5"] <= 1 and 0 < m["recall_at_5"] <= 1
    assert "popular_precision_at_5" in m
    # and each customer has a stored ranked list and a top-product trait from this run
    with engine.connect() as conn:
        stored = (
            conn.execute(
                sa.select(contact_recommendations.c.contact_id).where(
                    contact_recommendations.c.workspace_id == actor.workspace_id
                )
            )
            .scalars()
            .all()
        )
        cid = stored[0]
        traits = get_traits(conn, actor.workspace_id, cid)
        recs = Server(conn, actor.workspace_id).for_contacts([cid], 3)[cid]
        contact = get_contact(conn, actor.workspace_id, cid)
    assert len(stored) == m["contacts"]
    assert traits["recommended_sku"]["value"] == recs[0]["sku"]
    assert traits["recommended_sku"]["version"].endswith(f"run {run['id']}")
    # and recommend(3) in a template lists the same products
    tpl = compile_template(
        "Picked for you:{% for p in recommend(3) %} {{ p.name }} {{ link(p.url) }}{% endfor %}"
    )
    assert tpl.render(contact_context(contact)) == "Picked for you:" + "".join(
        f" {r['name']} {r['url']}" for r in recs
    )


def test_a_contact_without_history_gets_the_best_sellers_and_bought_items_are_left_out(
    engine: Engine, actor: Actor, shop: sample_data.Loaded
) -> None:
    # given recommendations computed without repeats
    service.run(engine, actor, "recommend", as_of=NOW, window_days=None, n=5)
    with engine.begin() as conn:
        from clarion.contacts.tables import contacts

        newcomer = (
            conn.execute(
                sa.select(contacts.c.id).where(
                    contacts.c.workspace_id == actor.workspace_id,
                    contacts.c.id.not_in(sa.select(contact_recommendations.c.contact_id)),
                )
            )
            .scalars()
            .first()
        )
        assert newcomer is not None
        # when a batch holding a contact with history and a newcomer is served
        server = Server(conn, actor.workspace_id)
        cid = conn.execute(sa.select(contact_recommendations.c.contact_id)).scalars().first()
        assert cid is not None
        got = server.for_contacts([cid, newcomer], 3)
        bought = set(
            conn.execute(
                sa.text(
                    "SELECT DISTINCT i.product_id FROM order_items i JOIN orders o "
                    "ON o.id = i.order_id WHERE o.contact_id = :c"
                ),
                {"c": cid},
            ).scalars()
        )
        popular = server.popular_ids()
        stored = server.stored([cid])[cid]
    # then the newcomer gets the best sellers, in order
    assert [p["id"] for p in got[newcomer]] == popular[:3]
    # and the customer is not offered what they already bought
    assert bought and len(stored) == 5
    assert not {int(i[0]) for i in stored} & bought
    assert {p["id"] for p in got[cid]} <= {int(i[0]) for i in stored}
