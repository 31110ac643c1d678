"""Best send time: local hours across zones and DST, empirical-Bayes shrinkage, best_hour."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.intelligence import sample_data, send_time, service
from clarion.traits.service import get_traits

from .conftest import NOW


def test_local_hours_follow_each_zone_and_its_daylight_saving() -> None:
    # given 13:30 UTC in January and in July, for New York, Tokyo and a broken zone name
    jan = datetime(2026, 1, 15, 13, 30, tzinfo=UTC).timestamp()
    jul = datetime(2026, 7, 15, 13, 30, tzinfo=UTC).timestamp()
    at = np.array([jan, jul, jan, jul, jan])
    zones = ["America/New_York", "America/New_York", "Asia/Tokyo", "Asia/Tokyo", "Not/AZone"]
    # when converted
    hours = send_time.local_hours(at, zones)
    # then New York is UTC-5 in winter and UTC-4 in summer, Tokyo always +9, unknown is UTC
    assert hours.tolist() == [8, 9, 22, 22, 13]


def test_thin_histories_lean_on_the_prior_and_rich_ones_on_themselves() -> None:
    # given a prior peaking at 20:00, one contact with one click at 09:00, one with 40 at 09:00
    prior = np.full((2, 24), 0.01)
    prior[:, 20] = 1 - 0.01 * 23
    h = np.zeros((2, 24))
    h[0, 9] = 1
    h[1, 9] = 40
    # when combined with strength 4
    p = send_time.posterior(h, prior, 4.0)
    # then the thin history follows the prior and the rich one follows the contact
    assert p[0].argmax() == 20 and p[1].argmax() == 9
    assert np.allclose(p.sum(axis=1), 1.0)


def test_best_hour_trait_predicts_the_held_out_engagement_hour(
    engine: Engine, actor: Actor, shop: sample_data.Loaded
) -> None:
    # given contacts who engage around their persona's local hour, RFM groups as segments
    service.run(engine, actor, "rfm", as_of=NOW)
    # when best send times are computed
    run = service.run(engine, actor, "send_time", as_of=NOW, window_days=None)
    m = run["metrics"]
    # then the shrunk estimate predicts the last engagement hour far better than one global hour
    assert m["within_1h"] > m["within_1h_everyone_best_hour"] + 0.2
    assert m["prior_strength"] in send_time.M_GRID
    # and the best_hour trait the campaign planner reads is a local hour
    with engine.connect() as conn:
        t = get_traits(conn, actor.workspace_id, shop.contact_ids[1])
    if "best_hour" in t:
        assert 0 <= t["best_hour"]["value"] <= 23 and t["best_hour"]["source"] == "send_time"
