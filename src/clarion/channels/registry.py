"""Connector kinds: which module implements each, loaded only when a connector of it is used.

A kind names a provider module (``kind -> dotted.path``, imported lazily, like healthchecks'
transports) that exposes ``PROVIDER``: its settings model, which of those settings are secrets,
the channel class, and its callback handler. SMPP keeps its own typed table and client
(``clarion.channels.smpp``); every other kind is a row of ``connectors``.

Adding a provider: write ``clarion/channels/http/<name>.py`` with a ``Settings`` model, a
``HttpChannel`` subclass whose ``submit`` follows the provider's published request and error
contract, a ``handle_callback`` mapping its status and inbound callbacks to ``Receipt`` /
``Inbound`` (verifying its signature where it signs), and ``PROVIDER``; add the kind below;
add a contract test with a local server in ``tests/channels/http/``; document it in
``docs/providers.md``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel

from clarion.channels.base import Channel, ReportCallback
from clarion.channels.config import ConnectorConfig
from clarion.errors import ValidationFailed

#: Every connector kind and the module that implements it.
KINDS: dict[str, str] = {
    "smpp": "clarion.channels.smpp",
    "twilio": "clarion.channels.http.twilio",
    "vonage": "clarion.channels.http.vonage",
    "aliyun": "clarion.channels.http.aliyun",
    "tencent": "clarion.channels.http.tencent",
    "engagelab": "clarion.channels.http.engagelab",
    "kannel": "clarion.channels.http.kannel",
    "jasmin": "clarion.channels.http.jasmin",
    "smtp": "clarion.channels.email.smtp",
}


@dataclass(frozen=True, slots=True)
class Provider:
    """What the registry needs of a connector kind."""

    kind: str
    channel: str  # the outbox channel its routes carry: "sms" or "email"
    settings: type[BaseModel]  # every setting, secrets included; extra keys are refused
    secrets: tuple[str, ...]  # names of settings stored apart and never shown
    build: Callable[[ConnectorConfig, ReportCallback | None], Channel]
    # (config, request) -> CallbackResult; None for kinds without callbacks (smtp).
    callback: Callable[..., object] | None = None


def kinds() -> list[str]:
    """Return every known kind, SMPP first."""
    return list(KINDS)


def provider(kind: str) -> Provider:
    """Return the provider of ``kind`` (importing its module now); SMPP is not one of these."""
    if kind not in KINDS or kind == "smpp":
        raise ValidationFailed(
            f"unknown connector kind {kind!r}",
            field="kind",
            value=kind,
            allowed=[k for k in KINDS if k != "smpp"],
        )
    module = importlib.import_module(KINDS[kind])
    found: Provider = module.PROVIDER
    return found
