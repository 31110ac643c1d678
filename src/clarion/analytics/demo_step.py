"""The demo's last step: write the demo campaign's report as HTML and print where it is.

The report attributes whatever orders followed the send (the demo's generated year of orders
ends at the demo's "now", when the campaign is planned, so a fresh demo shows deliveries,
failures, failover, variants and the holdout split, and conversions once orders arrive).
The file is ``<data_dir>/reports/campaign-<id>.html`` and opens from disk with no network.
"""

from __future__ import annotations

from clarion.demo.base import DemoContext, StepResult


def write_report(ctx: DemoContext) -> StepResult:
    """Write the demo campaign's HTML report; print its path."""
    from clarion.analytics.html import write_html  # matplotlib: imported only when reporting
    from clarion.analytics.report import build_report

    campaign = ctx.extras.get("campaign") or {}
    campaign_id = campaign.get("campaign_id")
    if campaign_id is None:
        return StepResult("report", {"no campaign to report on": 1})
    with ctx.engine.begin() as conn:
        report = build_report(conn, ctx.actor.workspace_id, int(campaign_id))
    path = write_html(report, ctx.data_dir / "reports" / f"campaign-{campaign_id}.html")
    ctx.extras["report_path"] = str(path.resolve())
    ctx.console.print(f"  report: {path.resolve()}", highlight=False)
    fn = report.funnel
    return StepResult(
        "report",
        {
            "sent": int(fn["sent"]),
            "delivered": int(fn["delivered"]),
            "failed": int(fn["failed"]),
            "converted": int(fn["converted"]),
            "charts": 6,
        },
    )
