"""Render the preference page with Jinja2 templates kept in the package (autoescaped)."""

from __future__ import annotations

from functools import lru_cache
from itertools import groupby
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from clarion.preferences.i18n import WORDS
from clarion.preferences.page import Row


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(
        loader=PackageLoader("clarion.preferences", "templates"),
        autoescape=select_autoescape(default=True),
    )


def page_html(
    *,
    brand: str,
    rows: list[Row],
    action: str,
    csrf: str,
    saved: bool = False,
    error: str | None = None,
    language: str = "en",
) -> str:
    """Return the page as HTML."""
    groups: list[tuple[str, list[Any]]] = [
        (channel, list(items)) for channel, items in groupby(rows, key=lambda r: r.channel)
    ]
    return (
        _env()
        .get_template("page.html")
        .render(
            brand=brand,
            rows=rows,
            groups=groups,
            action=action,
            csrf=csrf,
            saved=saved,
            error=error,
            lang=language,
            t=WORDS.get(language, WORDS["en"]),
        )
    )
