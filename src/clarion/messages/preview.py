"""Preview a template: the text for one recipient, or typical and worst cases over many.

Cost is parts x the route's price per part, so the sender sees before sending what a
personalised message will cost when long names or a non-GSM character push it over a part.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from clarion.messages.encoding import cost, encode
from clarion.messages.templates import CompiledTemplate, LocalizedTemplate, TemplateError


def preview(
    template: CompiledTemplate | LocalizedTemplate,
    context: Mapping[str, Any],
    *,
    price_per_part: float | None = None,
    ref_bits: int = 8,
    replace_lookalikes: bool = False,
    national_shift: str | None = None,
) -> dict[str, Any]:
    """Return the rendered text for one context with its encoding, units, parts and cost."""
    text = template.render(context)
    enc = encode(
        text,
        ref_bits=ref_bits,
        replace_lookalikes=replace_lookalikes,
        national_shift=national_shift,
    )
    return {
        "text": enc.text,
        "characters": len(enc.text),
        "encoding": enc.encoding,
        "units": enc.units,
        "parts": enc.parts,
        "ucs2_forced_by": enc.ucs2_forced_by,
        "replaced": [list(r) for r in enc.replaced],
        "cost": None if price_per_part is None else cost(enc.parts, price_per_part),
    }


def preview_many(
    template: CompiledTemplate | LocalizedTemplate,
    contexts: Iterable[Mapping[str, Any]],
    *,
    price_per_part: float | None = None,
    ref_bits: int = 8,
    sample: int = 3,
) -> dict[str, Any]:
    """Return the typical (median) and worst-case length, parts and cost over ``contexts``.

    Contexts that fail to render are counted and the first few errors kept, so one bad
    recipient does not hide the figures for the rest.
    """
    units: list[int] = []
    parts: list[int] = []
    chars: list[int] = []
    encodings: Counter[str] = Counter()
    errors: list[dict[str, Any]] = []
    worst: dict[str, Any] | None = None
    for i, ctx in enumerate(contexts):
        try:
            p = preview(template, ctx, ref_bits=ref_bits)
        except TemplateError as exc:
            if len(errors) < sample:
                errors.append({"index": i, "message": exc.message})
            encodings["error"] += 1
            continue
        units.append(p["units"])
        parts.append(p["parts"])
        chars.append(p["characters"])
        encodings[p["encoding"]] += 1
        if worst is None or (p["parts"], p["units"]) > (worst["parts"], worst["units"]):
            worst = p
    if not parts:
        return {"count": 0, "encodings": dict(encodings), "errors": errors}
    median_parts = statistics.median_low(parts)

    def priced(n: int) -> float | None:
        return None if price_per_part is None else cost(n, price_per_part)

    assert worst is not None
    return {
        "count": len(parts),
        "encodings": dict(encodings),
        "typical": {
            "characters": statistics.median_low(chars),
            "units": statistics.median_low(units),
            "parts": median_parts,
            "cost": priced(median_parts),
        },
        "worst": {
            "characters": worst["characters"],
            "units": worst["units"],
            "parts": worst["parts"],
            "cost": priced(worst["parts"]),
            "text": worst["text"],
        },
        "total_parts": sum(parts),
        "total_cost": priced(sum(parts)),
        "errors": errors,
    }
