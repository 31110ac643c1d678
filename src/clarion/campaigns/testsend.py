"""Test-send: every variant of a campaign to a few given numbers, now, outside the outbox.

A person checks how the text looks on a real handset before launching. The variants render
as the planner renders them, for a sample contact, and go through the first route serving
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
from clarion.campaigns.decide import compile_texts
from clarion.campaigns.render import SAMPLE_CONTACT, recipient_context
from clarion.campaigns.service import get_campaign
from clarion.channels.base import OutboundMessage, Report
from clarion.db.types import utcnow
from clarion.delivery.channels import build_channels
from clarion.delivery.routes import load_routes, pick_route
from clarion.errors import ValidationFailed
from clarion.messages.templates import TemplateError


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
    texts = compile_texts(camp)
    sample = dict(SAMPLE_CONTACT)
    context = recipient_context(
        sample, sample["attributes"], now=utcnow(), locale=sample["locale"], zone=sample["timezone"]
    )
    results: list[dict[str, Any]] = []
    opened: set[str] = set()
    for number, region in targets:
        route = pick_route(routes, number, region)
        for variant in camp.variants:
            try:
                text = texts[variant.id].render(context)
            except TemplateError as exc:  # e.g. an attribute the sample contact lacks
                error = f"does not render for the sample contact: {exc}"
                results.append({"to": number, "variant": variant.name, "ok": False, "error": error})
                continue
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
