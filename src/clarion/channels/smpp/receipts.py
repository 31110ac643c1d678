"""Delivery receipts: the text form of SMPP 3.4 Appendix B, the TLVs, and message id matching.

SMSCs disagree on how they write message ids: some answer submit_sm_resp with a hex id and put
the same id in decimal in the receipt (SMPP-FACTS.md: the most common complaint about Jasmin).
Each connector says how its SMSC writes them, and :func:`normalise_id` turns both into one key.
"""

from __future__ import annotations

import re
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

# Keys are case-insensitive and some SMSCs write "submit_date" or pad with extra spaces.
_FIELD = re.compile(
    r"(id|sub|dlvrd|submit[ _]date|done[ _]date|stat|err|text)\s*:\s*", re.IGNORECASE
)


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

    ``text`` runs to the end of the message (it may hold colons); the others end at the next key.
    """
    found: dict[str, str] = {}
    matches = list(_FIELD.finditer(raw))
    for i, m in enumerate(matches):
        key = m.group(1).lower().replace("_", " ")
        if key == "text":
            found[key] = raw[m.end() :]
            break
        end = matches[i + 1].start() if i + 1 < len(matches) else len(raw)
        found.setdefault(key, raw[m.end() : end].strip())
    return ReceiptText(
        id=found.get("id") or None,
        stat=(found.get("stat") or "").upper() or None,
        err=found.get("err") or None,
        submit_date=_receipt_date(found.get("submit date")),
        done_date=_receipt_date(found.get("done date")),
        sub=found.get("sub"),
        dlvrd=found.get("dlvrd"),
        text=found.get("text"),
    )


def _receipt_date(value: str | None) -> datetime | None:
    # YYMMDDhhmm (Appendix B), some SMSCs add seconds. The SMSC's zone is not given: read as UTC.
    if not value or not value.isdigit() or len(value) not in (10, 12):
        return None
    fmt = "%y%m%d%H%M%S" if len(value) == 12 else "%y%m%d%H%M"
    try:
        return datetime.strptime(value, fmt).replace(tzinfo=UTC)
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


@dataclass(frozen=True, slots=True)
class ReceiptFields:
    """What a deliver_sm receipt says, from its TLVs first and its text second."""

    message_id: str
    state: str
    error: str | None
    done_at: datetime | None


def receipt_from_pdu(pdu: P.Pdu) -> ReceiptFields | None:
    """Return the receipt in a deliver_sm (or data_sm), or None if it is not a receipt."""
    esm = pdu.fields.get("esm_class", 0)
    tlv_id = P.tlv_cstr(pdu, P.TAG_RECEIPTED_MESSAGE_ID)
    if not (esm & 0x3C) and tlv_id is None:
        return None
    body = pdu.fields.get("short_message") or pdu.tlvs.get(P.TAG_MESSAGE_PAYLOAD) or b""
    text = parse_receipt_text(body.decode("latin-1")) if body else None
    tlv_state = P.tlv_int(pdu, P.TAG_MESSAGE_STATE)
    message_id = tlv_id or (text.id if text else None)
    if not message_id:
        return None
    state = MESSAGE_STATES.get(tlv_state) if tlv_state is not None else None
    state = state or (text.stat if text else None) or "UNKNOWN"
    return ReceiptFields(
        message_id=message_id,
        state=state,
        error=text.err if text else None,
        done_at=text.done_date if text else None,
    )


def receipt_text(
    message_id: str,
    stat: str,
    *,
    err: str = "000",
    submitted: datetime,
    done: datetime,
    text: str = "",
) -> str:
    """Return a receipt text as SMPP 3.4 Appendix B writes it (used by the simulator)."""
    dlvrd = "001" if stat == "DELIVRD" else "000"
    return (
        f"id:{message_id} sub:001 dlvrd:{dlvrd} submit date:{submitted:%y%m%d%H%M} "
        f"done date:{done:%y%m%d%H%M} stat:{stat} err:{err} text:{text[:20]}"
    )
