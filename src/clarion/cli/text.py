"""``clarion text inspect``: encoding, units, parts and cost of messages, one JSON line each."""

from __future__ import annotations

import sys
from typing import Any

import orjson
import typer

from clarion.cli.common import handle_errors
from clarion.errors import ValidationFailed

text_app = typer.Typer(help="Inspect SMS text: encoding, parts, cost.", no_args_is_help=True)


def parse_prices(prices: list[str]) -> dict[str, float]:
    """Return ``{route: price per part}`` from ``ROUTE=PRICE`` options."""
    out: dict[str, float] = {}
    for item in prices:
        route, sep, price = item.partition("=")
        try:
            if not sep or not route:
                raise ValueError(item)
            out[route] = float(price)
        except ValueError:
            raise ValidationFailed(
                f"--price wants ROUTE=PRICE_PER_PART, got {item!r}", field="price", value=item
            ) from None
    return out


def inspect_text(
    text: str,
    prices: dict[str, float],
    *,
    ref_bits: int = 8,
    replace_lookalikes: bool = False,
    national_shift: str | None = None,
) -> dict[str, Any]:
    """Return the inspection report of one message."""
    from clarion.messages.encoding import cost, encode

    enc = encode(
        text,
        ref_bits=ref_bits,
        replace_lookalikes=replace_lookalikes,
        national_shift=national_shift,
    )
    out: dict[str, Any] = {
        "text": text,
        "encoding": enc.encoding,
        "data_coding": enc.data_coding,
        "characters": len(text),
        "units": enc.units,
        "parts": enc.parts,
        "ucs2_forced_by": enc.ucs2_forced_by,
    }
    if replace_lookalikes:
        out["replaced"] = [list(r) for r in enc.replaced]
        out["sent_text"] = enc.text
    if prices:
        out["cost"] = {route: cost(enc.parts, p) for route, p in prices.items()}
    return out


@text_app.command("inspect")
@handle_errors
def inspect_cmd(
    text: str | None = typer.Option(None, "--text", help="one message (default: stdin lines)"),
    price: list[str] = typer.Option(
        [], "--price", help="ROUTE=PRICE_PER_PART, repeatable; adds the cost per route"
    ),
    ref_bits: int = typer.Option(8, "--ref-bits", help="concatenation reference: 8 or 16"),
    replace_lookalikes: bool = typer.Option(
        False, "--replace-lookalikes", help="swap curly quotes etc. for GSM-7 characters"
    ),
    national_shift: str | None = typer.Option(
        None,
        "--national-shift",
        help="allow a national shift table: tr, es, pt, bn, gu, hi, kn, ml, or, pa, ta, te, ur",
    ),
) -> None:
    """Print, for each message, its encoding, units, parts and forcing characters as JSON lines."""
    prices = parse_prices(price)
    lines = [text] if text is not None else (line.rstrip("\r\n") for line in sys.stdin)
    for line in lines:
        report = inspect_text(
            line,
            prices,
            ref_bits=ref_bits,
            replace_lookalikes=replace_lookalikes,
            national_shift=national_shift,
        )
        sys.stdout.write(orjson.dumps(report).decode() + "\n")


def register(app: typer.Typer) -> None:
    app.add_typer(text_app, name="text")
