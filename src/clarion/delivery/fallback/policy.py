"""The fallback policy document and its validation (see :mod:`clarion.delivery.fallback`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from clarion.errors import ValidationFailed

#: Longest timer we accept: beyond a month the message's validity has long run out.
MAX_AFTER_S = 30 * 86400


class FallbackPolicy(BaseModel):
    """Where a message goes next if it fails or is not delivered within ``after_s`` seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Literal["email", "sms"] = "email"
    after_s: int | None = Field(None, ge=1, le=MAX_AFTER_S)
    on_failure: bool = True
    to: str | None = Field(None, max_length=320)
    template: str | None = Field(None, min_length=1, max_length=200)
    subject: str | None = Field(None, max_length=998)  # RFC 5322 line limit
    text: str | None = None
    html: str | None = None


def parse_policy(
    doc: Mapping[str, Any] | None, *, field: str = "fallback"
) -> FallbackPolicy | None:
    """Return the policy in ``doc`` (None stays None); raise ValidationFailed naming the field."""
    if doc is None:
        return None
    if not isinstance(doc, Mapping):
        raise ValidationFailed(f"{field} must be an object", field=field, value=doc)
    try:
        return FallbackPolicy.model_validate(dict(doc))
    except PydanticError as exc:
        err = exc.errors()[0]
        where = ".".join([field, *(str(p) for p in err["loc"])])
        raise ValidationFailed(
            f"{where}: {err['msg']}", field=where, value=err.get("input")
        ) from None


def policy_of_failover(failover: Mapping[str, Any] | None) -> FallbackPolicy | None:
    """Return a campaign's fallback policy from its ``failover`` document, if it has one."""
    if not failover:
        return None
    doc = failover.get("fallback")
    if doc:
        return parse_policy(doc, field="failover.fallback")
    channel = failover.get("fallback_channel")
    if channel:
        return FallbackPolicy(channel=channel)
    return None
