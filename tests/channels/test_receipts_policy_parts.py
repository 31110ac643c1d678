"""Receipt parsing and id matching, the retry policy, addressing and MO reassembly."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from clarion.channels.base import OutboundMessage
from clarion.channels.smpp import pdu as P
from clarion.channels.smpp.config import ConnectorConfig
from clarion.channels.smpp.gsm import decode_septets, decode_text
from clarion.channels.smpp.mo import Reassembler, split_part
from clarion.channels.smpp.parts import (
    InvalidMessage,
    prepare,
    relative_validity,
    source_address,
)
from clarion.channels.smpp.policy import rule_for
from clarion.channels.smpp.receipts import normalise_id, parse_receipt_text, receipt_from_pdu

CFG = ConnectorConfig(name="t", host="127.0.0.1", port=1, system_id="s", password="p")


def test_receipt_text_is_parsed_field_by_field() -> None:
    r = parse_receipt_text(
        "id:0123456789 sub:001 dlvrd:000 submit date:2611221940 done date:2611222005 "
        "stat:UNDELIV err:034 text:Sale: 20% off"
    )
    assert (r.id, r.stat, r.err, r.sub, r.dlvrd) == ("0123456789", "UNDELIV", "034", "001", "000")
    assert r.submit_date == datetime(2026, 11, 22, 19, 40, tzinfo=UTC)
    assert r.done_date == datetime(2026, 11, 22, 20, 5, tzinfo=UTC)
    # text runs to the end even with colons in it
    assert r.text == "Sale: 20% off"


def test_receipt_text_tolerates_case_underscores_and_missing_fields() -> None:
    r = parse_receipt_text("ID:abc Submit_Date:2611221940 STAT:delivrd")
    assert (r.id, r.stat, r.err) == ("abc", "DELIVRD", None)
    assert r.submit_date is not None and r.done_date is None


def test_hex_ids_in_responses_match_decimal_ids_in_receipts() -> None:
    # given an SMSC writing 0A1B in submit_sm_resp and 2587 in the receipt
    assert normalise_id("0A1B", "hex") == normalise_id("2587", "decimal") == "2587"
    assert normalise_id("000123", "decimal") == "123"
    # text ids are kept, and an id that is not what was announced is kept as text
    assert normalise_id("abc-1", "text") == "abc-1"
    assert normalise_id("xyz", "hex") == "xyz"


def test_receipt_tlvs_win_over_the_text() -> None:
    pdu = P.Pdu(
        P.DELIVER_SM,
        1,
        fields={"esm_class": P.ESM_DELIVERY_RECEIPT, "short_message": b"id:1 stat:ENROUTE"},
        tlvs={P.TAG_RECEIPTED_MESSAGE_ID: b"ff\x00", P.TAG_MESSAGE_STATE: b"\x05"},
    )
    receipt = receipt_from_pdu(pdu)
    assert receipt is not None and (receipt.message_id, receipt.state) == ("ff", "UNDELIV")
    # a plain MO is not a receipt
    assert receipt_from_pdu(P.Pdu(P.DELIVER_SM, 2, fields={"short_message": b"STOP"})) is None


@pytest.mark.parametrize(
    ("status", "permanent", "retries"),
    [
        (P.ESME_RTHROTTLED, False, 20),
        (P.ESME_RMSGQFUL, False, 10),
        (P.ESME_RINVDSTADR, True, 0),
        (0x0000_0400, False, 3),  # a vendor code we do not know: retried a little
    ],
)
def test_retry_policy_is_data(status: int, permanent: bool, retries: int) -> None:
    rule = rule_for(status)
    assert rule.permanent is permanent and rule.max_retries == retries


def test_backoff_grows_and_is_capped() -> None:
    rule = rule_for(P.ESME_RTHROTTLED)
    delays = [rule.delay(i) for i in range(1, 12)]
    assert delays == sorted(delays) and delays[0] < delays[3] and max(delays) == rule.max_backoff


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ("Shop", ("Shop", 5, 0)),
        ("12345", ("12345", 3, 0)),
        ("+447700900123", ("447700900123", 1, 1)),
    ],
)
def test_source_ton_npi_follow_the_sender(sender: str, expected: tuple[str, int, int]) -> None:
    assert source_address(sender, CFG) == expected


def test_a_connector_may_force_ton_npi_and_long_alphanumerics_are_refused() -> None:
    assert source_address("Shop", replace(CFG, source_ton=0, source_npi=1)) == ("Shop", 0, 1)
    with pytest.raises(InvalidMessage) as err:
        source_address("ABCDEFGHIJKL", CFG)
    assert err.value.code == "INVALID_SENDER"


def test_bad_destinations_are_refused_before_sending() -> None:
    with pytest.raises(InvalidMessage) as err:
        prepare(OutboundMessage(ref="m", to="not-a-number", segments=[b"x"]), CFG)
    assert err.value.code == "INVALID_DESTINATION"


def test_validity_is_written_as_an_smpp_relative_time() -> None:
    assert relative_validity(timedelta(hours=4, minutes=30)) == "000000043000000R"
    assert relative_validity(timedelta(days=2, seconds=5)) == "000002000005000R"
    msg = OutboundMessage(ref="m", to="1555", segments=[b"x"], validity=timedelta(hours=1))
    assert P.decode(prepare(msg, CFG).pdu(1, 0)).fields["validity_period"] == "000000010000000R"


def test_default_alphabet_data_coding_is_a_connector_quirk() -> None:
    msg = OutboundMessage(ref="m", to="1555", segments=[b"x"])
    assert (
        P.decode(prepare(msg, replace(CFG, default_data_coding=1)).pdu(1, 0)).fields["data_coding"]
        == 1
    )
    ucs2 = OutboundMessage(ref="m", to="1555", segments=["é".encode("utf-16-be")], data_coding=8)
    assert P.decode(prepare(ucs2, CFG).pdu(1, 0)).fields["data_coding"] == 8


def test_gsm7_septets_decode_with_the_extension_table() -> None:
    assert decode_septets(bytes([0x48, 0x69, 0x20, 0x1B, 0x65, 0x00, 0x11])) == "Hi €@_"
    assert decode_text("Ω".encode("utf-16-be"), 8) == "Ω"


def test_concatenated_mo_is_reassembled_across_a_split_surrogate_pair() -> None:
    # given a UCS-2 message whose emoji (a surrogate pair) is split across two UDH parts
    raw = "ok 👍".encode("utf-16-be")
    first, second = raw[:7], raw[7:]
    parts = [
        P.Pdu(
            P.DELIVER_SM,
            i,
            fields={
                "esm_class": P.ESM_UDHI,
                "data_coding": 8,
                "short_message": bytes((5, 0, 3, 9, 2, i)) + chunk,
            },
        )
        for i, chunk in ((2, second), (1, first))  # out of order
    ]
    mo = Reassembler()
    # when both parts arrive
    assert mo.add("447700900123", "12345", 8, split_part(parts[0])) is None
    whole = mo.add("447700900123", "12345", 8, split_part(parts[1]))
    # then the message is whole and decodes
    assert whole is not None and decode_text(whole[0], whole[1]) == "ok 👍" and whole[2] == 2
    assert len(mo) == 0
