"""The codec against PDUs worked out by hand from the SMPP 3.4 specification (hex below)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from clarion.channels.base import OutboundMessage
from clarion.channels.smpp import pdu as P
from clarion.channels.smpp.config import ConnectorConfig
from clarion.channels.smpp.parts import prepare
from clarion.channels.smpp.receipts import receipt_from_pdu

CFG = ConnectorConfig(name="t", host="127.0.0.1", port=1, system_id="s", password="p")

# bind_transmitter (4.1.1): system_id "SMPP3TEST", password "secret08", system_type "SUBMIT1",
# interface_version 0x34, addr_ton 1, addr_npi 1, address_range empty; 47 octets.
BIND_TX = bytes.fromhex(
    "0000002f 00000002 00000000 00000001"
    "534d50503354455354 00"  # SMPP3TEST
    "7365637265743038 00"  # secret08
    "5355424d495431 00"  # SUBMIT1
    "34 01 01 00"
)

# submit_sm (4.4.1), part 1 of 2 with a UDH (esm_class 0x40, IEI 00, ref 0x2A), "Hi" in the
# default alphabet, from alphanumeric "Shop" (TON 5, NPI 0) to 447700900123 (TON 1, NPI 1).
SUBMIT_UDH = bytes.fromhex(
    "00000039 00000004 00000000 00000002"
    "00"  # service_type
    "05 00 53686f70 00"  # source TON, NPI, "Shop"
    "01 01 343437373030393030313233 00"  # dest TON, NPI, "447700900123"
    "40 00 00"  # esm_class UDHI, protocol_id, priority_flag
    "00 00"  # schedule_delivery_time, validity_period
    "01 00 00 00"  # registered_delivery, replace_if_present, data_coding, sm_default_msg_id
    "08 050003 2a 02 01 4869"  # sm_length, UDH (ref 0x2A, 2 parts, part 1), "Hi"
)

# The same part with the SAR TLVs (5.3.2.22-24) instead of a UDH.
SUBMIT_SAR = bytes.fromhex(
    "00000043 00000004 00000000 00000002"
    "00 05 00 53686f70 00 01 01 343437373030393030313233 00"
    "00 00 00 00 00 01 00 00 00"
    "02 4869"
    "020c 0002 002a"  # sar_msg_ref_num
    "020e 0001 02"  # sar_total_segments
    "020f 0001 01"  # sar_segment_seqnum
)

# deliver_sm carrying a delivery receipt (esm_class 0x04, Appendix B text) plus the TLVs
# receipted_message_id (0x001E, "2A") and message_state (0x0427, 2 = DELIVERED).
RECEIPT_TEXT = (
    b"id:2A sub:001 dlvrd:001 submit date:2611221940 done date:2611221941 stat:DELIVRD "
    b"err:000 text:Hi"
)
DELIVER_RECEIPT = (
    bytes.fromhex(
        "0000009d 00000005 00000000 00000007"
        "00 01 01 343437373030393030313233 00"  # from the handset
        "05 00 53686f70 00"  # to our sender id
        "04 00 00 00 00 00 00 00 00"  # esm_class receipt; the rest zero
        "60"  # sm_length 96
    )
    + RECEIPT_TEXT
    + bytes.fromhex("001e 0003 324100 0427 0001 02")
)

# generic_nack (4.3.1) for an unknown command id: status ESME_RINVCMDID, seq 5.
GENERIC_NACK = bytes.fromhex("00000010 80000000 00000003 00000005")


def test_bind_transmitter_decodes_and_encodes_byte_for_byte() -> None:
    # given the hand-written bind_transmitter
    # when it is decoded
    pdu = P.decode(BIND_TX)
    # then every field is where the specification puts it
    assert pdu.name == "bind_transmitter" and pdu.seq == 1
    assert pdu.fields == {
        "system_id": "SMPP3TEST",
        "password": "secret08",
        "system_type": "SUBMIT1",
        "interface_version": 0x34,
        "addr_ton": 1,
        "addr_npi": 1,
        "address_range": "",
    }
    # and encoding it gives the same octets
    assert P.encode(pdu) == BIND_TX


def test_submit_sm_with_udh_is_what_the_connector_sends() -> None:
    # given a two-part message in UDH mode with reference 0x2A
    msg = OutboundMessage(ref="m1", to="+447700900123", sender="Shop", segments=[b"Hi", b"!"])
    # when the connector prepares it
    prepared = prepare(msg, CFG, ref=0x2A)
    # then part 1 is exactly the specification's PDU
    assert prepared.pdu(2, 0) == SUBMIT_UDH
    pdu = P.decode(SUBMIT_UDH)
    assert pdu.fields["esm_class"] == P.ESM_UDHI
    assert pdu.fields["short_message"] == bytes.fromhex("0500032a02014869")


def test_submit_sm_with_sar_tlvs_is_what_the_connector_sends() -> None:
    sar = replace(CFG, concatenation="sar")
    msg = OutboundMessage(ref="m1", to="447700900123", sender="Shop", segments=[b"Hi", b"!"])
    assert prepare(msg, sar, ref=0x2A).pdu(2, 0) == SUBMIT_SAR
    pdu = P.decode(SUBMIT_SAR)
    assert P.tlv_int(pdu, P.TAG_SAR_MSG_REF_NUM) == 0x2A
    assert P.tlv_int(pdu, P.TAG_SAR_TOTAL_SEGMENTS) == 2
    assert P.tlv_int(pdu, P.TAG_SAR_SEGMENT_SEQNUM) == 1


def test_message_payload_mode_sends_one_pdu_with_sm_length_zero() -> None:
    payload = replace(CFG, concatenation="payload")
    msg = OutboundMessage(ref="m", to="447700900123", sender="Shop", segments=[b"a" * 153, b"b"])
    prepared = prepare(msg, payload)
    assert len(prepared.tails) == 1 and prepared.segments == 2
    pdu = P.decode(prepared.pdu(9, 0))
    assert pdu.fields["short_message"] == b"" and pdu.fields["esm_class"] == 0
    assert pdu.tlvs[P.TAG_MESSAGE_PAYLOAD] == b"a" * 153 + b"b"


def test_deliver_sm_receipt_decodes_with_text_and_tlvs() -> None:
    # given a receipt deliver_sm
    pdu = P.decode(DELIVER_RECEIPT)
    # then it decodes as a receipt for message 2A, delivered
    assert pdu.name == "deliver_sm" and pdu.seq == 7
    assert pdu.fields["source_addr"] == "447700900123"
    assert pdu.fields["short_message"] == RECEIPT_TEXT
    receipt = receipt_from_pdu(pdu)
    assert receipt is not None
    assert (receipt.message_id, receipt.state, receipt.error) == ("2A", "DELIVRD", "000")
    assert receipt.done_at is not None and receipt.done_at.minute == 41
    # and re-encoding gives the same octets
    assert P.encode(pdu) == DELIVER_RECEIPT


def test_generic_nack_round_trips() -> None:
    pdu = P.decode(GENERIC_NACK)
    assert pdu.name == "generic_nack"
    assert (pdu.status, pdu.seq) == (P.ESME_RINVCMDID, 5)
    assert P.header_only(P.GENERIC_NACK, 5, P.ESME_RINVCMDID) == GENERIC_NACK


def test_error_responses_carry_no_body() -> None:
    # submit_sm_resp with ESME_RTHROTTLED: header only (5.1.3)
    pdu = P.Pdu(P.SUBMIT_SM | P.RESP, 3, P.ESME_RTHROTTLED)
    assert P.encode(pdu) == bytes.fromhex("00000010 80000004 00000058 00000003")
    assert P.status_name(P.decode(P.encode(pdu)).status) == "ESME_RTHROTTLED"


def test_unknown_command_and_truncated_bodies_are_refused_with_a_status() -> None:
    with pytest.raises(P.PduError) as unknown:
        P.decode(bytes.fromhex("00000010 000000ff 00000000 00000009"))
    assert (unknown.value.status, unknown.value.seq) == (P.ESME_RINVCMDID, 9)
    # a bind whose system_id has no NUL
    with pytest.raises(P.PduError) as truncated:
        P.decode(bytes.fromhex("00000014 00000002 00000000 00000001 41424344"))
    assert truncated.value.status == P.ESME_RINVCMDLEN
    # a TLV running past the end
    with pytest.raises(P.PduError) as tlv:
        P.decode(_with_length(SUBMIT_SAR[:-1]))
    assert tlv.value.status == P.ESME_RINVPARLEN


def _with_length(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data[4:]


def test_framer_cuts_a_stream_whatever_the_read_boundaries() -> None:
    # given three PDUs in one stream
    stream = BIND_TX + SUBMIT_UDH + GENERIC_NACK
    # when it arrives one octet at a time
    framer = P.Framer()
    got = []
    for i in range(len(stream)):
        got += framer.feed(stream[i : i + 1])
    # then exactly the three PDUs come out, whole
    assert [raw for *_, raw in got] == [BIND_TX, SUBMIT_UDH, GENERIC_NACK]
    # and in one read too
    assert len(P.Framer().feed(stream)) == 3


def test_framer_refuses_a_length_it_cannot_trust() -> None:
    with pytest.raises(P.PduError) as err:
        P.Framer().feed(bytes.fromhex("00000008 00000005 00000000 00000001"))
    assert err.value.status == P.ESME_RINVCMDLEN
    with pytest.raises(P.PduError):
        P.Framer().feed((P.MAX_PDU_LENGTH + 1).to_bytes(4, "big") + bytes(12))


def test_a_truncated_submit_sm_is_refused_by_the_fast_decoder_too() -> None:
    # given the hand-written submit_sm cut inside its short_message
    cut = _with_length(SUBMIT_UDH[:-3])
    # then decoding says the short_message runs past the PDU
    with pytest.raises(P.PduError) as err:
        P.decode(cut)
    assert err.value.status == P.ESME_RINVMSGLEN
    # and one cut inside the destination address says a NUL is missing
    with pytest.raises(P.PduError) as nul:
        P.decode(_with_length(SUBMIT_UDH[:30]))
    assert nul.value.status == P.ESME_RINVCMDLEN
