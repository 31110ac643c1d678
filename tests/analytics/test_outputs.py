"""The HTML report opens offline with its charts; message exports in CSV and Parquet agree."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy.engine import Engine

from clarion.analytics.export import export_messages
from clarion.analytics.html import write_html
from clarion.analytics.report import build_report
from clarion.audit.service import Actor
from tests.analytics.test_report import build


def test_html_report_is_self_contained_with_every_chart(
    engine: Engine, actor: Actor, make: Any, tmp_path: Path
) -> None:
    # given a campaign with deliveries, clicks, orders and a holdout
    cid, _ = build(engine, actor, make)
    with engine.begin() as conn:
        rep = build_report(conn, actor.workspace_id, cid)
    # when the HTML report is written
    path = write_html(rep, tmp_path / "out" / "report.html")
    html = path.read_text(encoding="utf-8")
    # then it holds six inline SVG charts and the funnel, and fetches nothing from anywhere
    assert html.count("<svg") == 6
    for title in ("Funnel", "Deliveries per hour", "By route", "By carrier", "By variant"):
        assert title in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<script" not in html and "@import" not in html
    assert "Incremental conversions" in html and "No winner" in html


def test_exports_hold_one_row_per_message_with_outcomes(
    engine: Engine, actor: Actor, make: Any, tmp_path: Path
) -> None:
    # given the campaign, attributed
    cid, groups = build(engine, actor, make)
    with engine.begin() as conn:
        build_report(conn, actor.workspace_id, cid)
    # when its messages are exported to CSV and Parquet at once
    with engine.connect() as conn:
        n = export_messages(
            conn, actor.workspace_id, cid, csv=tmp_path / "m.csv", parquet=tmp_path / "m.parquet"
        )
    # then both files hold every message (holdout included) with identical content
    table = pq.read_table(tmp_path / "m.parquet")
    csv = pacsv.read_csv(tmp_path / "m.csv")
    assert n == table.num_rows == csv.num_rows == 38
    assert table.column("message_id").to_pylist() == csv.column("message_id").to_pylist()
    rows = {r["contact_id"]: r for r in table.to_pylist()}
    first_a = rows[groups["A"][0]]
    assert (first_a["variant"], first_a["status"], first_a["route"]) == ("A", "delivered", "main")
    assert (first_a["clicks"], first_a["conversions"], first_a["revenue"]) == (1, 1, 50.0)
    assert first_a["delivered_at"].tzinfo is not None and first_a["first_click_at"] is not None
    hold = rows[groups["holdout"][0]]
    assert hold["holdout"] and hold["variant"] is None and hold["conversions"] == 0
    # and a preview is not a click
    assert rows[groups["A"][5]]["clicks"] == 0
