"""Interoperability: smpplib (a client not written here) against our simulator.

smpplib is synchronous, so it runs in a worker thread while the simulator runs in the loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm
from tests.channels.smpp_helpers import run, smsc

from clarion.channels.smpp.receipts import parse_receipt_text


def _smpplib_session(port: int, long_text: str) -> dict[str, Any]:
    """Bind with smpplib, send a one-part and a multipart message, read the receipts."""
    sent: list[str] = []
    received: list[Any] = []
    client = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
    client.set_message_sent_handler(lambda pdu: sent.append(pdu.message_id.decode()))
    client.set_message_received_handler(lambda pdu: received.append(pdu))
    client.connect()
    try:
        client.bind_transceiver(system_id="clarion", password="secret")
        parts_count = 0
        for text in ("Hello from smpplib", long_text):
            parts, encoding, esm_class = smpplib.gsm.make_parts(text)
            for part in parts:
                client.send_message(
                    source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
                    source_addr="Shop",
                    dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                    dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
                    destination_addr="447700900123",
                    short_message=part,
                    data_coding=encoding,
                    esm_class=esm_class,
                    registered_delivery=True,
                )
                parts_count += 1
        # every submit_sm_resp and every receipt, in whatever order they come
        while len(sent) < parts_count or len(received) < parts_count:
            client.read_once()
        client.unbind()
    finally:
        client.disconnect()
    return {"sent": sent, "received": received, "parts": parts_count}


def test_smpplib_binds_submits_and_gets_receipts_from_our_simulator() -> None:
    async def scenario() -> None:
        # given our simulator with hex ids in responses and receipts
        async with smsc() as sim:
            # when smpplib binds, sends a short and a 3-part UCS-2 message and reads receipts
            long_text = "Привет! " * 25
            got = await asyncio.to_thread(_smpplib_session, sim.port, long_text)
            stats = sim.stats
        # then every part got an id and exactly one receipt carrying that id
        assert got["parts"] == 4 and len(set(got["sent"])) == 4
        receipt_ids = [parse_receipt_text(p.short_message.decode()).id for p in got["received"]]
        assert sorted(receipt_ids) == sorted(got["sent"])
        assert all(int(p.esm_class) & 0x04 for p in got["received"])
        # and the simulator saw the UCS-2 parts with a UDH and the unbind
        assert stats.accepted == 4 and stats.receipts_acked == 4 and stats.unbinds == 1
        udh_parts = [pdu for _, _, pdu in sim.messages if pdu.fields["esm_class"] & 0x40]
        assert len(udh_parts) == 3 and all(p.fields["data_coding"] == 8 for p in udh_parts)

    run(scenario())


def test_smpplib_with_wrong_password_is_refused() -> None:
    def bind_badly(port: int) -> int:
        client = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
        client.connect()
        try:
            client.bind_transmitter(system_id="clarion", password="nope")
        except smpplib.exceptions.PDUError as exc:
            return int(exc.args[1])
        finally:
            client.disconnect()
        return 0

    async def scenario() -> None:
        async with smsc() as sim:
            status = await asyncio.to_thread(bind_badly, sim.port)
        assert status == 0x0E  # ESME_RINVPASWD

    run(scenario())
