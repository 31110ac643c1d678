"""Test-send: every variant of a campaign to a few given numbers, now, outside the outbox.

A person checks how the text looks on a real handset before launching. The variants render
with the campaign's own renderer and a sample context, and go through the first route serving
each number; nothing is written to the outbox (these people are not the audience), but the
send is audited with its results.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import phonenumbers
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor, record
from clarion.campaigns.service import get_campaign
from clarion.campaigns.text import compile_body
from clarion.channels.base import OutboundMessage, Report
from clarion.delivery.channels import build_channels
from clarion.delivery.routes import load_routes, pick_route
from clarion.errors import ValidationFailed

SAMPLE = {"first_name": "Alex", "last_name": "Sample", "country": "US", "locale": "en"}


def _e164(number: str) -> tuple[str, str | None]:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        raise ValidationFailed(
            "give test numbers in international form, e.g. +12025550100", field="to", value=number
        )
    return (
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        phonenumbers.region_code_for_number(parsed),
    )


async def test_send(
    engine: Engine, actor: Actor, campaign_id: int, numbers: Sequence[str]
) -> list[dict[str, Any]]:
    """Send each variant to each number; return one result per (number, variant)."""
    if not numbers or len(numbers) > 10:
        raise ValidationFailed("give 1 to 10 test numbers", field="to", value=list(numbers))
    targets = [_e164(n) for n in numbers]
    reports: list[Report] = []
    with engine.connect() as conn:
        camp = get_campaign(conn, actor.workspace_id, campaign_id)
        routes = load_routes(conn, actor.workspace_id, camp.channel)
        channels = build_channels(conn, actor.workspace_id, reports.append)
    results: list[dict[str, Any]] = []
    opened: set[str] = set()
    for number, region in targets:
        route = pick_route(routes, number, region)
        for variant in camp.variants:
            text = compile_body(variant.body)(SAMPLE)
            row: dict[str, Any] = {"to": number, "variant": variant.name, "text": text}
            channel = channels.get(route.connector) if route is not None else None
            if route is None or channel is None:
                row.update(ok=False, error="no route with a configured connector serves it")
                results.append(row)
                continue
            row["route"] = route.name
            try:
                if route.connector not in opened:
                    await channel.open()
                    opened.add(route.connector)
                (res,) = await channel.send(
                    [OutboundMessage(ref=f"test-{len(results)}", to=number, text=text)]
                )
                row.update(ok=res.ok, provider_ids=list(res.provider_ids), code=res.code)
            except Exception as exc:  # the person sees why the test did not go out
                row.update(ok=False, error=str(exc))
            results.append(row)
    for name in opened:
        with contextlib.suppress(Exception):  # closing a broken link is best effort
            await channels[name].close()
    with engine.begin() as conn:
        record(conn, actor, "campaign.test_send", "campaign", campaign_id, {"results": results})
    return results
