"""The connector against the simulator over real loopback sockets: the everyday path."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.channels.smpp_helpers import Reports, connector, messages, run, smsc, until

from clarion.channels.base import Channel, OutboundMessage
from clarion.channels.smpp import pdu as P


def test_submits_are_accepted_and_every_part_receipt_maps_to_its_message() -> None:
    async def scenario() -> None:
        reports = Reports()
        # given an SMSC writing hex ids in responses and decimal ids in receipts
        async with (
            smsc(submit_id_format="hex", receipt_id_format="decimal") as sim,
            connector(sim, reports, submit_id_format="hex", receipt_id_format="decimal") as c,
        ):
            # when a three-part message and a one-part message are sent
            long = OutboundMessage(
                ref="long", to="+447700900001", sender="Shop", segments=[b"a", b"b", b"c"]
            )
            results = await c.send([long, *messages(1)])
            await until(lambda: len(reports.receipts) == 4)
        # then each has one provider id per part
        assert [r.ok for r in results] == [True, True]
        assert results[0].parts == 3 and len(set(results[0].provider_ids)) == 3
        # and every receipt, though written in decimal, is matched to its message and part
        by_id = {r.provider_id: r for r in reports.receipts}
        assert sorted(by_id[i].part or 0 for i in results[0].provider_ids) == [0, 1, 2]
        assert {by_id[i].ref for i in results[0].provider_ids} == {"long"}
        assert by_id[results[1].provider_ids[0]].ref == "m0"
        assert all(r.state == "DELIVRD" and r.final for r in reports.receipts)
        # and the SMSC saw three UDH parts of one reference, the single part without a UDH
        seen = [pdu.fields for _, _, pdu in sim.messages]
        udh = [f["short_message"][:6] for f in seen if f["esm_class"] & P.ESM_UDHI]
        assert {u[3] for u in udh} == {udh[0][3]} and [u[5] for u in udh] == [1, 2, 3]
        assert [f["short_message"] for f in seen if not f["esm_class"]] == [b"hello"]

    run(scenario())


def test_the_connector_is_a_channel() -> None:
    async def scenario() -> None:
        async with smsc() as sim, connector(sim) as c:
            assert isinstance(c, Channel)

    run(scenario())


def test_outcomes_follow_destination_prefixes_and_bad_numbers_fail_permanently() -> None:
    async def scenario() -> None:
        reports = Reports()
        async with (
            smsc(
                outcomes={"4477001": "UNDELIV", "4477002": "EXPIRED"}, invalid_prefixes=("99",)
            ) as sim,
            connector(sim, reports) as c,
        ):
            sent = await c.send(messages(2, "4477001") + messages(1, "4477002") + messages(1, "99"))
            await until(lambda: len(reports.receipts) == 3)
        # then the refusal is permanent, with the SMSC's code, and was not retried
        assert [r.ok for r in sent] == [True, True, True, False]
        assert sent[3].permanent and sent[3].code == "ESME_RINVDSTADR" and sent[3].attempts == 1
        assert sim.stats.rejected == 1
        states = sorted(r.state for r in reports.receipts)
        assert states == ["EXPIRED", "UNDELIV", "UNDELIV"]

    run(scenario())


def test_several_binds_share_the_load_within_their_windows() -> None:
    async def scenario() -> None:
        # given an SMSC that answers after 20 ms and three binds with a window of 4
        async with (
            smsc(response_delay=0.02) as sim,
            connector(sim, binds=3, window=4) as c,
        ):
            results = await c.send(messages(60))
        # then all went through, three binds were made, and no bind ever had more than 4 open
        assert all(r.ok for r in results)
        assert sim.stats.binds["trx"] == 3
        assert sim.stats.max_unanswered == 4

    run(scenario())


def test_throughput_limit_spaces_submits() -> None:
    async def scenario() -> None:
        async with smsc() as sim, connector(sim, throughput=200) as c:
            loop = asyncio.get_running_loop()
            start = loop.time()
            results = await c.send(messages(60))
            elapsed = loop.time() - start
        assert all(r.ok for r in results)
        # 60 at 200/s takes about 0.3 s (a burst of a few is allowed)
        assert 0.2 < elapsed < 5.0

    run(scenario())


def test_transmitters_plus_a_receiver_get_receipts_on_the_receiver() -> None:
    async def scenario() -> None:
        reports = Reports()
        async with (
            smsc() as sim,
            connector(sim, reports, bind_mode="transmitter_receiver", binds=2) as c,
        ):
            results = await c.send(messages(20))
            await until(lambda: len(reports.receipts) == 20)
        assert all(r.ok for r in results)
        assert sim.stats.binds == {"tx": 2, "rx": 1}
        assert {r.ref for r in reports.receipts} == {f"m{i}" for i in range(20)}

    run(scenario())


def test_mo_messages_arrive_whole_including_concatenated_ones() -> None:
    async def scenario() -> None:
        reports = Reports()
        async with smsc() as sim, connector(sim, reports) as c:
            # when a person texts STOP, then a long UCS-2 reply in UDH parts, then one in SAR
            sim.inject_mo("+447700900123", "12345", "STOP")
            sim.inject_mo("+447700900124", "12345", "Добрый день! " * 12, split=67)
            sim.inject_mo("+447700900125", "12345", "yes " * 60, split=100, concatenation="sar")
            await until(lambda: len(reports.mo) == 3)
            await until(lambda: sim.stats.mo_acked == sim.stats.mo_sent == 9)
            assert c.stats.mo == 3
        stop, russian, sar = sorted(reports.mo, key=lambda m: m.sender)
        # then each is one message with its sender and its whole text
        assert (stop.sender, stop.to, stop.text, stop.parts) == ("447700900123", "12345", "STOP", 1)
        assert russian.text == "Добрый день! " * 12 and russian.parts > 1
        assert sar.text == "yes " * 60 and sar.parts == 3

    run(scenario())


def test_bad_credentials_leave_no_bind_and_submits_fail_transiently() -> None:
    async def scenario() -> None:
        async with smsc() as sim, connector(sim, password="wrong", submit_wait=0.2) as c:
            assert c.binds_up == 0
            assert "ESME_RINVPASWD" in (c.binds[0].last_error or "")
            result = await c.submit(messages(1)[0])
        assert not result.ok and not result.permanent and result.code == "NOT_SENT"
        assert sim.stats.bind_refused >= 1

    run(scenario())


def test_enquire_link_keeps_an_idle_link_and_detects_a_dead_one() -> None:
    async def scenario() -> None:
        async with (
            smsc() as sim,
            connector(sim, enquire_link_interval=0.05, response_timeout=0.5) as c,
        ):
            # an idle link is probed and stays up
            await until(lambda: sim.stats.enquire_links >= 3)
            assert c.stats.binds_made == 1 and c.binds_up == 1
            # when the SMSC stops answering, the link is dropped and bound again
            sim.configure(ignore_enquire_link=True)
            await until(lambda: c.stats.binds_made >= 2)
            sim.configure(ignore_enquire_link=False)
            await until(lambda: c.binds_up == 1)
            result = await c.submit(messages(1)[0])
        assert result.ok

    run(scenario())


def test_stop_drains_what_is_in_flight_then_unbinds() -> None:
    async def scenario() -> None:
        async with smsc(response_delay=0.05) as sim:
            async with connector(sim, window=10) as c:
                sending = asyncio.ensure_future(c.send(messages(50)))
                await until(lambda: c.stats.submitted_parts > 0)
                await c.stop(drain=True)
                results = await sending
                late = await c.submit(messages(1)[0])
            assert all(r.ok for r in results)
            assert not late.ok and late.code == "NOT_SENT"
            await until(lambda: sim.stats.unbinds == 1)

    run(scenario())


def test_text_is_split_by_the_text_engine_in_the_connectors_mode() -> None:
    async def scenario() -> None:
        reports = Reports()
        async with (
            smsc() as sim,
            connector(sim, reports, concatenation="payload", default_data_coding=1) as c,
        ):
            # when a GSM-7 text of 306 septets (an escape at the cut) and a UCS-2 text are sent
            gsm = OutboundMessage(ref="gsm", to="447700900001", text="a" * 152 + "€" + "a" * 152)
            ucs2 = OutboundMessage(ref="ucs2", to="447700900002", text="Grüße 👋")
            results = await c.send([gsm, ucs2])
            await until(lambda: len(reports.receipts) == 2)
        # then the long text went as one message_payload PDU
        assert [r.ok for r in results] == [True, True] and results[0].parts == 1
        by_dest = {pdu.fields["destination_addr"]: pdu for _, _, pdu in sim.messages}
        long_pdu = by_dest["447700900001"]
        assert long_pdu.fields["short_message"] == b"" and long_pdu.fields["data_coding"] == 1
        payload = long_pdu.tlvs[P.TAG_MESSAGE_PAYLOAD]
        assert len(payload) == 306 and b"\x1b\x65" in payload  # 304 a's and € as ESC 0x65
        # and the UCS-2 text went as UTF-16 with data_coding 8
        assert by_dest["447700900002"].fields["data_coding"] == 8
        assert by_dest["447700900002"].fields["short_message"].decode("utf-16-be") == "Grüße 👋"

    run(scenario())


def test_receipts_come_after_the_delay_with_the_outcome_mix() -> None:
    async def scenario() -> None:
        reports = Reports()
        # given receipts 0.2 s after submission, half delivered and half undeliverable
        async with (
            smsc(receipt_delay=0.2, mix={"DELIVRD": 1.0, "UNDELIV": 1.0}, seed=7) as sim,
            connector(sim, reports) as c,
        ):
            loop = asyncio.get_running_loop()
            start = loop.time()
            results = await c.send(messages(200))
            assert all(r.ok for r in results) and not reports.receipts
            await until(lambda: len(reports.receipts) == 200)
            waited = loop.time() - start
        # then none came before the delay, and both outcomes were drawn
        assert waited >= 0.2
        states = Counter(r.state for r in reports.receipts)
        assert set(states) == {"DELIVRD", "UNDELIV"} and min(states.values()) > 60
        assert all(r.final and r.error == ("000" if r.state == "DELIVRD" else "001")
                   for r in reports.receipts)  # fmt: skip

    run(scenario())


def test_without_receipts_nothing_is_remembered() -> None:
    async def scenario() -> None:
        async with smsc() as sim, connector(sim, registered_delivery=0) as c:
            results = await c.send(messages(50))
            assert all(r.ok for r in results)
            assert c.inbound.tracked == 0 and sim.stats.receipts_sent == 0
        # while with receipts asked for, ids are tracked until their receipt comes
        async with smsc(receipt_delay=60) as sim, connector(sim) as c:
            await c.send(messages(5))
            assert c.inbound.tracked == 5

    run(scenario())
