"""RFM: quintiles, named groups, traits with provenance, used by segments and templates."""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.contacts.service import get_contact
from clarion.intelligence import rfm, sample_data, service
from clarion.intelligence.template_helpers import Helpers
from clarion.messages.templates import compile_template, contact_context
from clarion.segments import query
from clarion.traits.service import get_traits
from clarion.traits.tables import contact_traits

from .conftest import NOW


def test_quintiles_give_ties_one_score_and_spread_the_rest_over_five() -> None:
    # given a spread of values with a large tie at the bottom
    values = np.array([1.0] * 50 + list(range(2, 52)), dtype=float)
    # when scored
    q = rfm.quintile(values)
    # then every tied value shares a score and the best values score 5
    assert len(set(q[:50].tolist())) == 1
    assert q[-1] == 5 and q.min() >= 1 and q.max() <= 5


def test_recent_frequent_big_spenders_are_champions_and_long_gone_one_timers_are_lost() -> None:
    # given 100 customers from best (recent, frequent, high spend) to worst
    n = 100
    recency = np.linspace(1, 500, n)
    frequency = np.linspace(30, 1, n)
    monetary = np.linspace(3000, 10, n)
    # when scored
    r, f, m, groups = rfm.score(recency, frequency, monetary)
    # then the best are champions with 5-5-5, the worst lost with 1-1-1
    assert (r[0], f[0], m[0], groups[0]) == (5, 5, 5, "champions")
    assert (r[-1], f[-1], m[-1], groups[-1]) == (1, 1, 1, "lost")


def test_rfm_run_writes_traits_with_provenance_usable_in_segments_and_templates(
    engine: Engine, actor: Actor, shop: sample_data.Loaded, helpers: Helpers
) -> None:
    # given a shop with order history
    # when the RFM model runs
    run = service.run(engine, actor, "rfm", as_of=NOW)
    # then its evaluation shows champions buying again more often than hibernating customers
    groups = run["metrics"]["by_group"]
    assert groups["champions"]["ordered_again"] > groups["hibernating"]["ordered_again"]
    assert run["metrics"]["auc_rfm_sum"] > 0.6
    # and every customer has traits that name the run that computed them
    with engine.connect() as conn:
        n_customers = conn.execute(
            sa.select(sa.func.count()).where(
                contact_traits.c.name == "rfm_group",
                contact_traits.c.workspace_id == actor.workspace_id,
            )
        ).scalar_one()
        champ = (
            conn.execute(
                sa.select(contact_traits.c.contact_id).where(
                    contact_traits.c.name == "rfm_group", contact_traits.c.value_text == "champions"
                )
            )
            .scalars()
            .first()
        )
        assert champ is not None
        traits = get_traits(conn, actor.workspace_id, champ)
        # a segment on the group counts exactly the contacts carrying it
        seg = {"type": "trait", "name": "rfm_group", "op": "eq", "value": "champions"}
        in_segment = query.count(conn, actor.workspace_id, seg)
        contact = get_contact(conn, actor.workspace_id, champ)
    assert n_customers == sum(run["output"]["groups"].values())
    assert traits["rfm_group"]["value"] == "champions"
    assert traits["rfm_group"]["source"] == "rfm"
    assert traits["rfm_group"]["version"] == f"{rfm.VERSION} run {run['id']}"
    assert traits["rfm_r"]["value"] == 5.0
    assert in_segment == run["output"]["groups"]["champions"]
    # and a template addresses champions by their group
    tpl = compile_template(
        '{% if trait("rfm_group") == "champions" %}VIP offer for you{% else %}Hello{% endif %}'
        ' (R{{ trait("rfm_r") }})'
    )
    assert tpl.render(contact_context(contact)) == "VIP offer for you (R5)"
