"""What the SMSC reports back to a connector: receipts matched to messages, MO reassembled.

Every part's provider id is remembered (normalised, so hex and decimal forms match) from the
moment its submit_sm_resp is read until its final receipt, so a receipt for any part of a long
message finds the message. A receipt may be read before the response that carries its id (the
receiver bind is another socket, or both sit in one TCP read): it waits a few seconds for the id
to be tracked, then is reported unmatched (``ref=None``) for the dispatcher to match by provider
id in the database. The memory used stays bounded: ids leave on their final receipt, and at most
``max_tracked`` are kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from clarion.channels.base import Inbound, Receipt
from clarion.channels.smpp import pdu as P
from clarion.channels.smpp.config import ConnectorConfig
from clarion.channels.smpp.gsm import decode_text
from clarion.channels.smpp.mo import Reassembler, split_part
from clarion.channels.smpp.receipts import FINAL_STATES, normalise_id, receipt_from_pdu
from clarion.db.types import utcnow

if TYPE_CHECKING:
    from clarion.channels.smpp.client import ConnectorStats

log = logging.getLogger(__name__)

ReceiptCallback = Callable[[Receipt], None]
MoCallback = Callable[[Inbound], None]


class InboundRouter:
    """Match receipts to messages and reassemble MO for one connector."""

    def __init__(
        self,
        config: ConnectorConfig,
        stats: ConnectorStats,
        on_receipt: ReceiptCallback | None,
        on_mo: MoCallback | None,
    ) -> None:
        self.config = config
        self.stats = stats
        self._on_receipt = on_receipt
        self._on_mo = on_mo
        self._tracked: dict[str, tuple[str, int, int]] = {}
        self._orphans: dict[str, tuple[float, Receipt]] = {}
        self._mo = Reassembler()

    def track(self, raw_id: str, ref: str, part: int, parts: int) -> None:
        """Remember which message a part's provider id belongs to, until its final receipt."""
        key = normalise_id(raw_id, self.config.submit_id_format)
        info = (ref, part, parts)
        orphan = self._orphans.pop(key, None)
        if orphan is not None:
            self._report(orphan[1], info)
            if orphan[1].final:
                return
        tracked = self._tracked
        tracked[key] = info
        if len(tracked) > self.config.max_tracked:
            del tracked[next(iter(tracked))]

    def on_deliver(self, pdu: P.Pdu) -> int:
        """Handle a deliver_sm or data_sm; return the command_status to answer with.

        If a callback raises, the answer is ESME_RX_T_APPN so the SMSC sends it again later;
        a receipt sent again then comes back unmatched and is matched by provider id instead.
        """
        try:
            fields = receipt_from_pdu(pdu)
            if fields is not None:
                self._on_receipt_fields(
                    fields.message_id, fields.state, fields.error, fields.done_at
                )
            else:
                self._on_mo_pdu(pdu)
        except Exception:
            log.exception("%s: handling deliver_sm failed", self.config.name)
            return P.ESME_RX_T_APPN
        return 0

    def sweep(self, *, everything: bool = False, grace: float = 5.0) -> None:
        """Report receipts that waited too long for their id, and MO that never completed."""
        limit = time.monotonic() - grace
        for key, (at, receipt) in list(self._orphans.items()):
            if everything or at < limit:
                del self._orphans[key]
                self._report(receipt, None)
        for source, dest, payload, dcs, parts in self._mo.expired():
            self._emit_mo(source, dest, payload, dcs, parts)

    @property
    def tracked(self) -> int:
        """Return how many part ids await their final receipt."""
        return len(self._tracked)

    def _on_receipt_fields(
        self, raw_id: str, state: str, error: str | None, done_at: datetime | None
    ) -> None:
        self.stats.receipts += 1
        key = normalise_id(raw_id, self.config.receipt_id_format)
        final = state in FINAL_STATES
        info = self._tracked.pop(key, None) if final else self._tracked.get(key)
        if info is None:
            receipt = Receipt(key, state, final, error, done_at, connector=self.config.name)
            self._orphans[key] = (time.monotonic(), receipt)
            return
        self.stats.receipts_matched += 1
        if self._on_receipt is not None:
            self._on_receipt(
                Receipt(key, state, final, error, done_at, *info, connector=self.config.name)
            )

    def _report(self, receipt: Receipt, info: tuple[str, int, int] | None) -> None:
        if info is not None:
            self.stats.receipts_matched += 1
            # Built directly: dataclasses.replace (which reads the fields' definitions each
            # time) was 2% of the worker when receipts overtake their submit's response.
            r = receipt
            receipt = Receipt(
                r.provider_id, r.state, r.final, r.error, r.done_at, *info, connector=r.connector
            )
        if self._on_receipt is not None:
            self._on_receipt(receipt)

    def _on_mo_pdu(self, pdu: P.Pdu) -> None:
        fields = pdu.fields
        source, dest = fields.get("source_addr", ""), fields.get("destination_addr", "")
        whole = self._mo.add(source, dest, fields.get("data_coding", 0), split_part(pdu))
        if whole is not None:
            self._emit_mo(source, dest, *whole)

    def _emit_mo(
        self, source: str, dest: str, payload: bytes, data_coding: int, parts: int
    ) -> None:
        self.stats.mo += 1
        if self._on_mo is not None:
            self._on_mo(
                Inbound(
                    sender=source,
                    to=dest,
                    text=decode_text(payload, data_coding),
                    received_at=utcnow(),
                    parts=parts,
                    connector=self.config.name,
                    raw=payload,
                )
            )
