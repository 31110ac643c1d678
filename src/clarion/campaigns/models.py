"""What a marketer describes when creating a campaign, validated before it reaches the database.

The API accepts these models as JSON bodies and the CLI builds them from options, so both edges
refuse the same mistakes with the same field names.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from clarion.delivery.fallback.policy import FallbackPolicy

STATES = ("draft", "scheduled", "running", "paused", "completed", "cancelled")
CHANNELS = ("sms", "email", "social")
PURPOSES = ("marketing", "transactional")
_LOCALE_TAG = re.compile(r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$")


class Audience(BaseModel):
    """Who the campaign is for: segments, tags or a static list, minus exclusions."""

    all: bool = False
    tags: list[str] = Field(default_factory=list)
    contact_ids: list[int] = Field(default_factory=list)
    segment_ids: list[int] = Field(default_factory=list)
    exclude_segment_ids: list[int] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something_chosen(self) -> Audience:
        if not (self.all or self.tags or self.contact_ids or self.segment_ids):
            raise ValueError("choose an audience: all, tags, contact_ids or segment_ids")
        return self


class Schedule(BaseModel):
    """When each recipient's message is due.

    ``now``: at launch. ``at``: one instant for everybody. ``local_time``: ``local_time`` (HH:MM)
    on ``date`` (or the next such time after launch) in each recipient's zone. ``best_hour``: the
    recipient's best hour (``best_hour`` trait, 0-23) in their zone, else like ``local_time``.
    """

    kind: Literal["now", "at", "local_time", "best_hour"] = "now"
    at: datetime | None = None
    local_time: str | None = None
    date: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Schedule:
        if self.kind == "at":
            if self.at is None:
                raise ValueError("schedule 'at' needs 'at'")
            if self.at.tzinfo is None:
                raise ValueError("schedule 'at' needs a time zone offset")
        if self.kind == "local_time" and not self.local_time:
            raise ValueError("schedule 'local_time' needs 'local_time' (HH:MM)")
        if self.local_time is not None:
            hh, _, mm = self.local_time.partition(":")
            if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
                raise ValueError(f"local_time {self.local_time!r} is not HH:MM")
        return self


class Failover(BaseModel):
    """What happens when a route fails a message; retry policy is data, not code."""

    on_permanent: bool = True
    on_receipt_failure: bool = True
    on_expiry: bool = True
    max_transient: int = Field(3, ge=0, le=50)
    retry_after_s: int = Field(30, ge=0)
    fallback_channel: Literal["email"] | None = None
    #: Cross-channel fallback on failure and/or a "not delivered within after_s" timer, with
    #: the content on the other channel (clarion.delivery.fallback); overrides fallback_channel.
    fallback: FallbackPolicy | None = None
    resend_uncertain: bool = False
    error_pause_ratio: float = Field(0.5, gt=0, le=1)
    error_pause_min: int = Field(200, ge=1)


class Variant(BaseModel):
    """One text of the campaign and the share of the non-holdout audience that gets it.

    ``body`` and each of ``locales`` (locale tag -> text) are templates of
    ``clarion.messages.templates``: ``{{ contact.first_name }}``, ``{{ attributes.city }}``,
    filters, ``link(url)``. A recipient gets the text of their locale (``es-MX`` falls back to
    ``es``), else ``body``.
    """

    name: str = Field(min_length=1, max_length=50)
    body: str = Field(min_length=1)
    split_pct: float = Field(100.0, gt=0, le=100)
    locales: dict[str, str] = Field(default_factory=dict)

    @field_validator("locales")
    @classmethod
    def _locale_tags(cls, locales: dict[str, str]) -> dict[str, str]:
        for tag, text in locales.items():
            if not _LOCALE_TAG.match(tag):
                raise ValueError(f"not a locale tag: {tag!r}")
            if not text:
                raise ValueError(f"the {tag!r} text is empty")
        return locales


class FrequencyCap(BaseModel):
    """At most ``count`` messages of this purpose and channel per ``hours`` (or ``days``) per
    recipient, counted across campaigns. It adds to the jurisdiction's caps: a campaign can be
    stricter than the law, never looser."""

    count: int = Field(ge=0)
    hours: int | None = Field(None, gt=0)
    days: int | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_window(self) -> FrequencyCap:
        if (self.hours is None) == (self.days is None):
            raise ValueError("a frequency cap needs either 'hours' or 'days'")
        return self

    def stored(self) -> dict[str, int]:
        """Return the cap as stored: ``{"count", "hours"}``."""
        return {"count": self.count, "hours": self.hours or (self.days or 0) * 24}


class CampaignCreate(BaseModel):
    """Everything needed to create a draft campaign."""

    name: str = Field(min_length=1, max_length=200)
    channel: Literal["sms", "email", "social"] = "sms"
    purpose: Literal["marketing", "transactional"] = "marketing"
    goal_description: str | None = None
    goal_metric: str | None = Field(None, max_length=50)
    audience: Audience
    variants: list[Variant] = Field(min_length=1)
    holdout_pct: float = Field(0.0, ge=0, lt=100)
    schedule: Schedule = Field(default_factory=Schedule)
    throughput_per_s: int | None = Field(None, gt=0)
    frequency_cap: FrequencyCap | None = None
    validity_s: int = Field(86400, gt=0)
    budget_cap: float | None = Field(None, gt=0)
    failover: Failover = Field(default_factory=Failover)

    @field_validator("variants")
    @classmethod
    def _splits_add_up(cls, variants: list[Variant]) -> list[Variant]:
        names = [v.name for v in variants]
        if len(set(names)) != len(names):
            raise ValueError("variant names must be unique")
        total = round(sum(v.split_pct for v in variants), 6)
        if len(variants) > 1 and total != 100:
            raise ValueError(f"variant splits add up to {total}, not 100")
        return variants
