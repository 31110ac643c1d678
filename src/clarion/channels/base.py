"""The Channel protocol: what every transport offers the dispatcher, and what it reports back.

A channel is opened once, sends batches, and is closed. Everything the provider tells us later
(delivery receipts, inbound messages) comes back through one callback given at construction,
so the dispatcher has one place to write outcomes. A send is either submitted (the provider's
id for every part) or failed, permanent or transient, with the provider's own code kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable


@dataclass(slots=True)
class OutboundMessage:
    """One message to send: either ``text`` (split by the text engine) or pre-encoded parts.

    ``segments`` are the payloads of the parts without any UDH, GSM-7 as unpacked septets (one
    per octet), with ``data_coding`` saying which alphabet they are in.

    Read-only by convention, not ``frozen``: a campaign builds one per message, and a frozen
    dataclass's ``__init__`` (one ``object.__setattr__`` per field) cost 3-4 times a plain one.
    The same goes for :class:`SendResult` and :class:`Receipt` (one each per message).
    """

    ref: str  # our id for the message (outbox row), echoed in results and receipts
    to: str  # E.164, with or without "+"
    sender: str | None = None  # alphanumeric id, short code or long number; None: connector's
    text: str | None = None
    segments: Sequence[bytes] | None = None
    data_coding: int | None = None
    validity: timedelta | None = None
    receipt: bool | None = None  # None: the connector's registered_delivery setting
    #: National language shift IEs for every part's UDH (from the text engine), b"" if none.
    udh_shift: bytes = b""
    #: Text engine options, used only with ``text``.
    national_shift: str | None = None
    replace_lookalikes: bool = False
    #: Goes ahead of messages that are not, where the channel queues (an SMPP connector's
    #: window): the transactional lane's order confirmation must not wait behind a campaign.
    urgent: bool = False


@dataclass(slots=True)
class SendResult:
    """The outcome of one message: submitted with provider ids (one per part), or failed."""

    ref: str
    ok: bool
    provider_ids: tuple[str, ...] = ()
    parts: int = 0
    cost: float | None = None
    permanent: bool = False
    code: str | None = None  # the provider's code on failure, e.g. "ESME_RINVDSTADR"
    message: str | None = None
    #: The provider may or may not have the message (it was on the wire when the link broke).
    uncertain: bool = False
    attempts: int = 1

    @classmethod
    def submitted(
        cls, ref: str, provider_ids: Sequence[str], *, cost: float | None = None, attempts: int = 1
    ) -> SendResult:
        """Return a success with one provider id per part."""
        ids = tuple(provider_ids)
        return cls(ref, True, ids, len(ids), cost, attempts=attempts)

    @classmethod
    def failed(
        cls,
        ref: str,
        *,
        permanent: bool,
        code: str,
        message: str = "",
        uncertain: bool = False,
        provider_ids: Sequence[str] = (),
        parts: int = 0,
        attempts: int = 1,
    ) -> SendResult:
        """Return a failure; ``permanent`` says whether a retry could ever succeed."""
        return cls(
            ref,
            False,
            tuple(provider_ids),
            parts,
            None,
            permanent,
            code,
            message,
            uncertain,
            attempts,
        )


@dataclass(slots=True)
class Receipt:
    """A delivery report for one part, matched to our message when the channel knows it."""

    provider_id: str  # normalised, as in SendResult.provider_ids
    state: str  # DELIVRD, UNDELIV, EXPIRED, REJECTD, DELETED, UNKNOWN, or ENROUTE/ACCEPTD
    final: bool
    error: str | None = None
    done_at: datetime | None = None
    ref: str | None = None  # our message's ref, if this channel still remembered it
    part: int | None = None  # 0-based part index, with ref
    parts: int | None = None
    connector: str | None = None


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message a person sent us (MO), reassembled when it came in several parts."""

    sender: str
    to: str
    text: str
    received_at: datetime
    parts: int = 1
    connector: str | None = None
    raw: bytes = field(default=b"", repr=False)


Report = Receipt | Inbound
ReportCallback = Callable[[Report], None]


@runtime_checkable
class Channel(Protocol):
    """A transport the dispatcher can hand batches to."""

    async def open(self) -> None:
        """Connect (and bind, log in...) so that ``send`` can work."""

    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        """Send ``batch`` and return one result per message, in order."""
        ...

    async def close(self) -> None:
        """Finish what is in flight and disconnect."""
