"""The funnel as rich tables for the terminal (``clarion report campaign``)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from clarion.analytics.report import CampaignReport


def print_report(report: CampaignReport, console: Console) -> None:
    """Print the funnel, the reasons, the variants and the verdict."""
    fn = report.funnel
    t = Table(title=f"campaign {report.campaign_id}: {report.name} ({report.status})")
    t.add_column("funnel")
    t.add_column("count", justify="right")
    for key in ("targeted", "excluded", "holdout", "planned", "sent", "delivered", "failed"):
        t.add_row(key, f"{fn[key]:,}")
    for key in ("clicked", "converted", "opted_out"):
        t.add_row(key.replace("_", " "), f"{fn[key]:,}")
    t.add_row("cost", f"{fn['cost']:,.2f}")
    t.add_row("revenue", f"{fn['revenue']:,.2f}")
    t.add_row("ROI", f"{fn['roi']:.1%}")
    console.print(t)
    for title, data in (
        ("excluded by reason", report.excluded),
        ("failed by reason", report.failed),
    ):
        if data:
            r = Table(title=title)
            r.add_column("reason")
            r.add_column("count", justify="right")
            for reason, n in data.items():
                r.add_row(reason, f"{n:,}")
            console.print(r)
    v = Table(title="variants (rates of delivered, 95% Wilson intervals)")
    for col in ("group", "sent", "delivered", "clicked", "click rate", "converted", "conv. rate"):
        v.add_column(col, justify="left" if col == "group" else "right")
    for g in report.variants:
        c, k = g.rates["click"], g.rates["conversion"]
        v.add_row(
            g.name,
            f"{g.sent:,}",
            f"{g.delivered:,}",
            f"{g.clicked:,}",
            f"{c['rate']:.2%} [{c['low']:.2%}, {c['high']:.2%}]",
            f"{g.converted:,}",
            f"{k['rate']:.2%} [{k['low']:.2%}, {k['high']:.2%}]",
        )
    console.print(v)
    verdict = (
        f"winner on {report.winner_metric} rate: {report.winner}"
        if report.winner
        else f"no winner on {report.winner_metric} rate "
        "(no significant difference after correction)"
    )
    console.print(verdict, highlight=False)
    if report.srm["mismatch"]:
        console.print(
            f"[red]sample-ratio mismatch[/red]: p = {report.srm['p']:.2g}; "
            "the groups differ from the planned split"
        )
    lift = report.lift
    if lift and lift.get("available"):
        inc, rev = lift["incremental_conversions"], lift["incremental_revenue"]
        console.print(
            f"holdout lift: {inc['estimate']:+,.1f} conversions [{inc['low']:+,.1f}, "
            f"{inc['high']:+,.1f}], revenue {rev['estimate']:+,.2f} [{rev['low']:+,.2f}, "
            f"{rev['high']:+,.2f}] (95% CI)",
            highlight=False,
        )
