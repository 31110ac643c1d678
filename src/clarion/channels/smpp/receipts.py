"""Delivery receipts: the text form of SMPP 3.4 Appendix B, the TLVs, and message id matching.

SMSCs disagree on how they write message ids: some answer submit_sm_resp with a hex id and put
the same id in decimal in the receipt (SMPP-FACTS.md: the most common complaint about Jasmin).
Each connector says how its SMSC writes them, and :func:`normalise_id` turns both into one key.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from clarion.channels.smpp import pdu as P

IdFormat = Literal["text", "hex", "decimal"]

#: Final states (Appendix B ``stat``) and the message_state TLV values (5.2.28) they map from.
FINAL_STATES: Final = frozenset({"DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "REJECTD", "UNKNOWN"})
MESSAGE_STATES: Final = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}
STATE_CODES: Final = {v: k for k, v in MESSAGE_STATES.items()}

_KEYS: Final = {
    "id": "id",
    "sub": "sub",
    "dlvrd": "dlvrd",
    "submit_date": "submit date",
    "done_date": "done date",
    "stat": "stat",
    "err": "err",
}


@dataclass(frozen=True, slots=True)
class ReceiptText:
    """The fields of a receipt's text; any of them may be missing in the wild."""

    id: str | None
    stat: str | None
    err: str | None
    submit_date: datetime | None
    done_date: datetime | None
    sub: str | None
    dlvrd: str | None
    text: str | None


def parse_receipt_text(raw: str) -> ReceiptText:
    """Return the fields of ``id:... sub:... dlvrd:... submit date:... stat:... err:... text:``.

    Keys are read case-insensitively, ``submit_date`` is accepted for ``submit date``, and
    ``text`` runs to the end of the message (it may hold colons and spaces). Written with
    ``str`` methods, not a regular expression: this runs once per receipt in the hot path.
    """
    lower = raw.lower()
    cut = lower.find("text:")
    text = raw[cut + 5 :] if cut >= 0 else None
    head = raw[:cut] if cut >= 0 else raw
    head_lower = lower[: len(head)]
    # "submit date" and "done date" hold a space: glue them so that split() keeps them whole.
    for spaced, glued in ((" date:", "_date:"), (" date :", "_date:")):
        if spaced in head_lower:
            head = _replace_folded(head, head_lower, spaced, glued)
            head_lower = head.lower()
    found: dict[str, str] = {}
    key = ""
    for token in head.split():
        name, colon, value = token.partition(":")
        if colon:
            key = _KEYS.get(name.lower(), "")
            if key and key not in found:
                found[key] = value
    return ReceiptText(
        id=found.get("id") or None,
        stat=(found.get("stat") or "").upper() or None,
        err=found.get("err") or None,
        submit_date=_receipt_date(found.get("submit date")),
        done_date=_receipt_date(found.get("done date")),
        sub=found.get("sub"),
        dlvrd=found.get("dlvrd"),
        text=text,
    )


def _replace_folded(text: str, folded: str, old: str, new: str) -> str:
    out: list[str] = []
    pos = 0
    while True:
        i = folded.find(old, pos)
        if i < 0:
            out.append(text[pos:])
            return "".join(out)
        out.append(text[pos:i])
        out.append(new)
        pos = i + len(old)


def _receipt_date(value: str | None) -> datetime | None:
    # YYMMDDhhmm (Appendix B), some SMSCs add seconds. The SMSC's zone is not given: read as UTC.
    return _date_of(value) if value else None


@functools.lru_cache(maxsize=1024)
def _date_of(value: str) -> datetime | None:
    """Parse one receipt date; memoised: the receipts of a second (or minute) share theirs, and
    building the datetime was a few percent of the worker's CPU."""
    if not value or len(value) not in (10, 12) or not value.isdigit():
        return None
    try:
        return datetime(
            2000 + int(value[0:2]),
            int(value[2:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[8:10]),
            int(value[10:12]) if len(value) == 12 else 0,
            tzinfo=UTC,
        )
    except ValueError:
        return None


def normalise_id(raw: str, fmt: IdFormat) -> str:
    """Return the matching key of a provider message id written in ``fmt``.

    ``hex`` and ``decimal`` ids become the decimal number without leading zeros, so an SMSC that
    writes ``0A1B`` in submit_sm_resp and ``2587`` in the receipt gives one key; ``text`` ids are
    kept as they are. An id that does not parse in the stated format is kept as text.
    """
    value = raw.strip()
    if fmt == "text" or not value:
        return value
    try:
        return str(int(value, 16 if fmt == "hex" else 10))
    except ValueError:
        return value


def format_id(number: int, fmt: IdFormat) -> str:
    """Return ``number`` written as an SMSC that uses ``fmt`` would write it."""
    return f"{number:X}" if fmt == "hex" else str(number)


@dataclass(slots=True)
class ReceiptFields:
    """What a deliver_sm receipt says, from its TLVs first and its text second (read-only by
    convention; not frozen, for the cost of a frozen ``__init__`` once per receipt)."""

    message_id: str
    state: str
    error: str | None
    done_at: datetime | None


def receipt_from_pdu(pdu: P.Pdu) -> ReceiptFields | None:
    """Return the receipt in a deliver_sm (or data_sm), or None if it is not a receipt.

    The TLVs win over the text when both are there; then only ``err`` and ``done date`` are
    read from the text, by two searches instead of a full parse (this runs per message).
    """
    esm = pdu.fields.get("esm_class", 0)
    tlv_id = P.tlv_cstr(pdu, P.TAG_RECEIPTED_MESSAGE_ID)
    if not (esm & 0x3C) and tlv_id is None:
        return None
    body: bytes = pdu.fields.get("short_message") or pdu.tlvs.get(P.TAG_MESSAGE_PAYLOAD) or b""
    raw = body.decode("latin-1")
    tlv_state = P.tlv_int(pdu, P.TAG_MESSAGE_STATE)
    state = MESSAGE_STATES.get(tlv_state) if tlv_state is not None else None
    if tlv_id and state:
        return ReceiptFields(tlv_id, state, _value_after(raw, "err:"), _done_date(raw))
    text = parse_receipt_text(raw) if raw else None
    message_id = tlv_id or (text.id if text else None)
    if not message_id:
        return None
    return ReceiptFields(
        message_id=message_id,
        state=state or (text.stat if text else None) or "UNKNOWN",
        error=text.err if text else None,
        done_at=text.done_date if text else None,
    )


def _value_after(raw: str, key: str) -> str | None:
    at = raw.find(key)
    if at < 0:
        at = raw.lower().find(key)
        if at < 0:
            return None
    start = at + len(key)
    end = raw.find(" ", start)
    return raw[start : end if end >= 0 else None] or None


def _done_date(raw: str) -> datetime | None:
    at = raw.find("done date:")
    if at < 0:
        return parse_receipt_text(raw).done_date
    return _receipt_date(raw[at + 10 : at + 22].split(" ", 1)[0])
