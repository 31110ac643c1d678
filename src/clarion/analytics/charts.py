"""Report charts as inline SVG (matplotlib's SVG backend): the HTML opens from disk, offline.

Text stays text in the SVG (``svg.fonttype = none``), which keeps each chart a few kilobytes
and lets the browser's own font draw it. No pyplot: figures are made directly, so nothing
depends on a display or a global backend, and threads may draw at the same time.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from clarion.analytics.report import CampaignReport

BLUE, GREEN, RED, GREY = "#2f6fb0", "#3a9a5b", "#c0504d", "#9a9a9a"


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "clarion"}):
        fig.savefig(buf, format="svg")
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _figure(height: float = 3.0) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(7.5, height), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _thousands(axis: Any) -> None:
    axis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))


def funnel(report: CampaignReport) -> str:
    """Horizontal bars: targeted, planned, sent, delivered, clicked, converted."""
    steps = ["targeted", "planned", "sent", "delivered", "clicked", "converted"]
    values = [report.funnel[s] for s in steps]
    fig, ax = _figure(2.8)
    bars = ax.barh(steps[::-1], values[::-1], color=BLUE)
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values[::-1]], padding=3)
    _thousands(ax.xaxis)
    ax.set_title("Funnel")
    return _svg(fig)


def deliveries_over_time(points: Sequence[tuple[datetime, int]]) -> str:
    """Deliveries per hour (UTC)."""
    fig, ax = _figure()
    if points:
        days = [t.timestamp() / 86400 for t, _ in points]  # matplotlib's date unit (1970 epoch)
        ax.bar(
            days,
            [n for _, n in points],
            width=0.9 / 24,
            align="edge",
            color=GREEN,
        )
        ax.xaxis_date()
        fig.autofmt_xdate()
    _thousands(ax.yaxis)
    ax.set_title("Deliveries per hour (UTC)")
    return _svg(fig)


def grouped(title: str, data: dict[str, dict[str, float]], limit: int = 12) -> str:
    """Sent and delivered side by side per key (route, carrier...), largest first."""
    items = sorted(data.items(), key=lambda kv: -kv[1].get("sent", 0))[:limit]
    fig, ax = _figure()
    xs = range(len(items))
    ax.bar(
        [x - 0.2 for x in xs], [v.get("sent", 0) for _, v in items], 0.4, label="sent", color=BLUE
    )
    ax.bar(
        [x + 0.2 for x in xs],
        [v.get("delivered", 0) for _, v in items],
        0.4,
        label="delivered",
        color=GREEN,
    )
    ax.set_xticks(list(xs), [k for k, _ in items], rotation=20, ha="right")
    ax.legend(frameon=False)
    _thousands(ax.yaxis)
    ax.set_title(title)
    return _svg(fig)


def variants(report: CampaignReport) -> str:
    """Click and conversion rate per variant, with 95% Wilson intervals as error bars."""
    groups = report.variants
    fig, ax = _figure()
    xs = range(len(groups))
    for offset, key, color in ((-0.2, "click", BLUE), (0.2, "conversion", GREEN)):
        rates = [g.rates[key]["rate"] * 100 for g in groups]
        lo = [max(0.0, g.rates[key]["rate"] - g.rates[key]["low"]) * 100 for g in groups]
        hi = [max(0.0, g.rates[key]["high"] - g.rates[key]["rate"]) * 100 for g in groups]
        ax.bar(
            [x + offset for x in xs],
            rates,
            0.4,
            yerr=[lo, hi],
            capsize=3,
            label=f"{key} rate %",
            color=color,
        )
    ax.set_xticks(list(xs), [g.name for g in groups])
    ax.legend(frameon=False)
    ax.set_title("By variant (of delivered; 95% intervals)")
    return _svg(fig)


def hour_of_day(counts: Sequence[int], tz: str) -> str:
    """Deliveries by hour of day in the workspace's time zone."""
    fig, ax = _figure(2.6)
    ax.bar(range(24), counts, color=BLUE)
    ax.set_xticks(range(0, 24, 2))
    _thousands(ax.yaxis)
    ax.set_title(f"Deliveries by hour of day ({tz})")
    return _svg(fig)


def all_charts(report: CampaignReport) -> dict[str, str]:
    """Return every chart of the report by name, as SVG text."""
    return {
        "funnel": funnel(report),
        "over_time": deliveries_over_time(report.deliveries_by_hour),
        "by_route": grouped("By route", report.by_route),
        "by_carrier": grouped("By carrier", {k: dict(v) for k, v in report.by_carrier.items()}),
        "by_variant": variants(report),
        "by_hour": hour_of_day(report.by_hour_of_day, report.timezone),
    }
