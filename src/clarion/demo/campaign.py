"""The demo's main job: one campaign over the demo base, through the built-in SMSC simulators.

Kept apart from the base-building steps so that ``clarion demo --no-campaign`` (and tests of the
customer base alone) can leave it out.
"""

from __future__ import annotations

from clarion.demo.base import DemoContext, StepResult


def send_campaign(ctx: DemoContext) -> StepResult:
    """Launch the demo campaign, dispatch it with failover, and record its outcome."""
    from clarion.campaigns.demo_step import run_demo_campaign

    summary = run_demo_campaign(ctx.engine, ctx.actor.workspace_id, now=ctx.now)
    ctx.extras["campaign"] = summary.as_dict()
    counts: dict[str, int] = {
        "audience": summary.audience,
        "planned": summary.planned,
        "holdout": summary.holdout,
        "failed over to the backup route": summary.failed_over,
    }
    counts.update({f"excluded: {reason}": n for reason, n in sorted(summary.excluded.items())})
    counts.update({f"messages {state}": n for state, n in sorted(summary.messages.items())})
    counts.update(
        {f"delivered via {route}": n for route, n in sorted(summary.delivered_by_route.items())}
    )
    for note in summary.notes:
        ctx.console.print(f"  note: {note}", highlight=False)
    ctx.console.print(
        f"  campaign {summary.campaign_id}: {summary.status}, cost {summary.cost:.2f}",
        highlight=False,
    )
    return StepResult("campaign", counts)
