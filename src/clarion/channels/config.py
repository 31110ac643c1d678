"""What a running non-SMPP connector knows about itself: settings, secrets, callback URLs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ConnectorConfig:
    """One connector row as a channel sees it (secrets included: never log or return this)."""

    name: str
    kind: str
    settings: Mapping[str, Any]
    secrets: Mapping[str, Any] = field(repr=False, default_factory=dict)
    callback_key: str = ""
    workspace_id: int | None = None
    id: int | None = None

    def get(self, key: str, default: Any = None) -> Any:
        """Return a setting or secret by name."""
        if key in self.secrets:
            return self.secrets[key]
        return self.settings.get(key, default)

    def callback_url(self, event: str) -> str | None:
        """Return the public URL the provider should call for ``event`` (status, inbound).

        ``None`` when no ``callback_base_url`` is set: then the provider's account-level
        webhook settings apply.
        """
        base = self.settings.get("callback_base_url")
        if not base:
            return None
        return f"{str(base).rstrip('/')}/v1/callbacks/{self.callback_key}/{event}"
