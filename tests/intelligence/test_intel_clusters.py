"""Clusters: k chosen by silhouette, profiles that say what sets each cluster apart."""

from __future__ import annotations

import numpy as np
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.intelligence import clusters, sample_data, service
from clarion.segments import query

from .conftest import NOW


def test_three_separated_groups_give_k_three_and_profiles_name_their_difference() -> None:
    # given three well separated groups in two features
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    x = np.vstack([c + rng.normal(0, 0.5, (200, 2)) for c in centres])
    # when k is chosen between 2 and 6
    k, scores, model = clusters.choose_k(x, range(2, 7))
    labels = model.predict(x)
    profs = clusters.profiles(x, labels, ["spend", "frequency"])
    # then three clusters win, and the one high on spend says so first
    assert k == 3 and scores[3] == max(scores.values())
    high_spend = next(
        p
        for p in profs
        if p["stands_out"][0]["feature"] == "spend" and p["stands_out"][0]["direction"] == "high"
    )
    assert high_spend["size"] == 200 and high_spend["label"].startswith("high spend")


def test_cluster_run_labels_every_customer_and_clusters_are_segmentable(
    engine: Engine, actor: Actor, shop: sample_data.Loaded
) -> None:
    # given a shop of five personas
    # when clustered
    run = service.run(engine, actor, "clusters", as_of=NOW, k_max=6)
    k = run["metrics"]["k"]
    profs = run["output"]["profiles"]
    # then k is within the range tried and each profile names features that set it apart
    assert 2 <= k <= 6 and len(profs) == k
    assert all(p["stands_out"] and p["label"] for p in profs)
    # and a segment on the cluster trait holds that cluster's customers
    with engine.connect() as conn:
        for p in profs:
            rule = {"type": "trait", "name": "cluster", "op": "eq", "value": p["cluster"]}
            assert query.count(conn, actor.workspace_id, rule) == p["size"]
