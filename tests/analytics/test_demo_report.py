"""The demo ends by writing its campaign's HTML report."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from sqlalchemy.engine import Engine

from clarion.demo.run import run_demo


def test_the_demo_writes_the_campaign_report(engine: Engine, tmp_path: Path) -> None:
    # given a small demo run through to its last step
    out = io.StringIO()
    report = run_demo(
        engine,
        seed=3,
        contacts=200,
        data_dir=tmp_path,
        now=datetime(2026, 11, 20, 12, tzinfo=UTC),
        console=Console(file=out, width=200),
    )
    # then the last step wrote the campaign's report with its charts and printed the path
    last = report.steps[-1]
    assert last.step == "report" and last.counts["delivered"] > 0
    [path] = list((tmp_path / "reports").glob("campaign-*.html"))
    html = path.read_text(encoding="utf-8")
    assert html.count("<svg") == 6 and "Funnel" in html
    assert str(path.resolve()) in out.getvalue().replace("\n", "")
