"""Write a campaign report as one self-contained HTML file (inline SVG, inline CSS, no JS).

The file must open from disk on a laptop with no network: nothing is fetched, no CDN, no web
font. The template (``templates/report.html``) is rendered with autoescaping; only the SVG
produced by :mod:`clarion.analytics.charts` is inserted as markup.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from clarion.analytics.charts import all_charts
from clarion.analytics.report import CampaignReport

_ENV = Environment(
    loader=PackageLoader("clarion.analytics", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
)


def render_html(report: CampaignReport) -> str:
    """Return the report as an HTML document."""
    return _ENV.get_template("report.html").render(r=report, charts=all_charts(report))


def write_html(report: CampaignReport, path: Path) -> Path:
    """Write the report's HTML to ``path`` (parent folders created); return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")
    return path
