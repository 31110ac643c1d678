"""Reliability over real sockets: dropped links, throttling, slow answers, malformed PDUs."""

from __future__ import annotations

import asyncio

from tests.channels.smpp_helpers import Reports, connector, messages, run, smsc, until

from clarion.channels.smpp import pdu as P


def test_a_link_dropped_mid_window_loses_nothing() -> None:
    async def scenario() -> None:
        # given an SMSC that answers slowly (so a window is in flight) and drops after 30 submits
        async with smsc(response_delay=0.03, drop_after=30) as sim, connector(sim, window=10) as c:
            # when 100 messages are sent
            results = await c.send(messages(100))
        # then every message has an outcome: accepted, or uncertain (on the wire at the drop)
        ok = [r for r in results if r.ok]
        uncertain = [r for r in results if r.uncertain]
        assert len(ok) + len(uncertain) == 100
        assert 0 < len(uncertain) <= 10  # at most one window was on the wire
        assert all(not r.permanent and r.code == "UNCERTAIN" for r in uncertain)
        # and the connector bound again and sent the rest
        assert c.stats.binds_made == 2 and sim.stats.dropped == 1
        # and nothing accepted by us is unknown to the SMSC
        assert sim.stats.accepted >= len(ok)

    run(scenario())


def test_a_dropped_link_with_resubmission_delivers_everything() -> None:
    async def scenario() -> None:
        async with (
            smsc(response_delay=0.03, drop_after=30) as sim,
            connector(sim, window=10, resubmit_uncertain=True) as c,
        ):
            results = await c.send(messages(100))
        assert all(r.ok for r in results)
        assert {r.ref for r in results} == {f"m{i}" for i in range(100)}
        assert c.stats.retries > 0

    run(scenario())


def test_throttling_makes_the_client_back_off_and_lose_nothing() -> None:
    async def scenario() -> None:
        reports = Reports()
        # given an SMSC that allows 400 submits per second and a client with no limit of its own
        async with smsc(throughput=400) as sim, connector(sim, reports, window=50) as c:
            # when 300 messages are sent at once
            results = await c.send(messages(300))
            await until(lambda: len(reports.receipts) == 300)
        # then the SMSC throttled, the client retried, and every message went through once
        assert (
            sim.stats.throttled > 0 and c.stats.refusals["ESME_RTHROTTLED"] == sim.stats.throttled
        )
        assert all(r.ok for r in results)
        assert sim.stats.accepted == 300
        assert {r.ref for r in reports.receipts} == {f"m{i}" for i in range(300)}
        # and the client slowed down: few retries, not a storm of refusals
        assert c.stats.retries < 100

    run(scenario())


def test_slow_answers_are_waited_for_within_the_window() -> None:
    async def scenario() -> None:
        # given an SMSC answering after 0.1 s and a window of 5
        async with smsc(response_delay=0.1) as sim, connector(sim, window=5) as c:
            loop = asyncio.get_running_loop()
            start = loop.time()
            results = await c.send(messages(15))
            elapsed = loop.time() - start
        # then all went through, never more than 5 at once, so in three rounds
        assert all(r.ok for r in results)
        assert sim.stats.max_unanswered == 5
        assert elapsed >= 0.3

    run(scenario())


def test_an_urgent_message_goes_ahead_of_a_queued_batch() -> None:
    async def scenario() -> None:
        # given a window of 5 and an SMSC answering after 0.05 s, with 60 campaign messages
        # queued for window slots (12 rounds: 0.6 s)
        async with smsc(response_delay=0.05) as sim, connector(sim, window=5) as c:
            loop = asyncio.get_running_loop()
            bulk = asyncio.ensure_future(c.send(messages(60)))
            await asyncio.sleep(0.02)
            # when an order confirmation is sent urgently while they wait
            start = loop.time()
            [urgent] = await c.send(messages(1, prefix="4477111", urgent=True))
            waited = loop.time() - start
            results = await bulk
        # then it takes the next free slot (one round), not the 12th
        assert urgent.ok and waited < 0.25
        # and the batch still all goes through, never more than the window at once
        assert all(r.ok for r in results)
        assert sim.stats.max_unanswered == 5

    run(scenario())


def test_answers_later_than_the_timeout_are_uncertain_and_the_link_survives() -> None:
    async def scenario() -> None:
        # given an SMSC answering after 0.3 s and a client waiting 0.1 s for a response
        async with (
            smsc(response_delay=0.3) as sim,
            connector(sim, window=5, response_timeout=0.1, enquire_link_interval=60) as c,
        ):
            results = await c.send(messages(12))
            # when the late responses arrive for sequence numbers nobody waits for any more
            await until(lambda: not any(s.unanswered for s in sim.sessions))
            # then the link is still usable once the SMSC is fast again
            sim.configure(response_delay=0.0)
            after = await c.submit(messages(1, "4477005")[0])
        assert all(r.uncertain and r.code == "UNCERTAIN" and not r.ok for r in results)
        assert after.ok and c.stats.binds_made == 1

    run(scenario())


def test_an_unknown_command_gets_generic_nack_and_the_session_survives() -> None:
    async def scenario() -> None:
        async with smsc() as sim, connector(sim) as c:
            # when the SMSC sends a command SMPP does not define
            assert sim.send_malformed("unknown_command") == 1
            await until(lambda: c.stats.malformed == 1)
            # then the client answered generic_nack (the SMSC reads it as a response) and
            # carries on on the same bind
            result = await c.submit(messages(1)[0])
        assert result.ok and c.stats.binds_made == 1

    run(scenario())


def test_a_malformed_body_is_refused_and_the_session_survives() -> None:
    async def scenario() -> None:
        async with smsc() as sim, connector(sim) as c:
            sim.send_malformed("bad_body")
            await until(lambda: c.stats.malformed == 1)
            result = await c.submit(messages(1)[0])
        assert result.ok and c.stats.binds_made == 1

    run(scenario())


def test_an_unreadable_length_closes_the_link_and_it_reconnects_cleanly() -> None:
    async def scenario() -> None:
        async with smsc() as sim, connector(sim) as c:
            sim.send_malformed("bad_length")
            await until(lambda: c.stats.binds_made == 2 and c.binds_up == 1)
            result = await c.submit(messages(1)[0])
        assert result.ok and sim.stats.malformed == 0

    run(scenario())


def test_the_simulator_answers_garbage_from_a_client_with_generic_nack() -> None:
    async def scenario() -> None:
        async with smsc() as sim:
            reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
            # an unknown command id, then a valid enquire_link on the same connection
            writer.write(P.header_only(0x000000FF, 7) + P.header_only(P.ENQUIRE_LINK, 8))
            nack = P.decode(await reader.readexactly(16))
            alive = P.decode(await reader.readexactly(16))
            writer.close()
        assert (nack.name, nack.status, nack.seq) == ("generic_nack", P.ESME_RINVCMDID, 7)
        assert (alive.name, alive.seq) == ("enquire_link_resp", 8)
        assert sim.stats.malformed == 1

    run(scenario())


def test_a_generic_nack_for_a_submit_fails_it_by_the_policy_and_the_session_survives() -> None:
    async def scenario() -> None:
        async with smsc(nack_submits=P.ESME_RINVCMDLEN) as sim, connector(sim) as c:
            # when the SMSC answers a submit_sm with generic_nack
            refused = await c.submit(messages(1)[0])
            # then the message fails with that status, permanently per the policy
            sim.configure(nack_submits=None)
            after = await c.submit(messages(1)[0])
        assert not refused.ok and refused.permanent and refused.code == "ESME_RINVCMDLEN"
        # and the bind carries on
        assert after.ok and c.stats.binds_made == 1

    run(scenario())


def test_a_batch_larger_than_the_windows_goes_through_lanes_in_order() -> None:
    async def scenario() -> None:
        # given one bind with a window of 4 and an SMSC answering after 10 ms
        async with smsc(response_delay=0.01) as sim, connector(sim, window=4, binds=1) as c:
            before = len(asyncio.all_tasks())
            tasks: list[int] = []
            # when 40 messages are sent at once
            sending = asyncio.ensure_future(c.send(messages(40)))
            while not sending.done():
                tasks.append(len(asyncio.all_tasks()) - before)
                await asyncio.sleep(0.005)
            results = sending.result()
        # then each has its result, in the batch's order, and the window was kept full
        assert [r.ref for r in results] == [f"m{i}" for i in range(40)]
        assert all(r.ok for r in results)
        assert sim.stats.max_unanswered == 4
        # by four lanes (and the send itself), not a task per message
        assert max(tasks) <= 5

    run(scenario())


def test_a_batch_through_lanes_gives_up_together_when_no_bind_comes_back() -> None:
    async def scenario() -> None:
        # given one bind with a window of 4 to an SMSC that drops the link after 8 submits and
        # then refuses to bind again, and half a second to wait for a bind
        async with (
            smsc(response_delay=0.01, drop_after=8) as sim,
            connector(sim, window=4, binds=1, submit_wait=0.5) as c,
        ):
            sim.config = sim.config.updated({"accounts": {"clarion": "changed"}})
            # when 40 messages are sent at once
            started = asyncio.get_running_loop().time()
            results = await c.send(messages(40))
            took = asyncio.get_running_loop().time() - started
        # then the ones after the drop fail as not sent, retryable, all within about one wait
        # (not a wait each, one lane's turn after another: 8 turns would be 4 s)
        assert [r.ref for r in results] == [f"m{i}" for i in range(40)]
        not_sent = [r for r in results if r.code == "NOT_SENT"]
        assert len(not_sent) >= 28
        assert all(not r.permanent and not r.ok for r in not_sent)
        assert took < 2.0
        # and each message was counted once
        assert c.stats.messages_ok + c.stats.messages_failed == 40

    run(scenario())
