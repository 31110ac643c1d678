"""Deleting a contact or a campaign still takes its messages' attempts and send log with it
(triggers since migration 0022, in place of checked foreign keys)."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.campaigns.control import launch
from clarion.campaigns.tables import campaigns
from clarion.compliance.tables import compliance_send_log
from clarion.contacts.tables import contacts
from clarion.delivery.tables import message_attempts, messages
from clarion.delivery.worker import Worker


def _count(engine: Engine, table: sa.Table, *where: Any) -> int:
    with engine.connect() as conn:
        q = sa.select(sa.func.count()).select_from(table).where(*where)
        return int(conn.execute(q).scalar_one())


def test_deleting_a_contact_or_a_campaign_takes_attempts_and_send_log_along(
    engine: Engine, actor: Actor, make: Any, loopback: Any
) -> None:
    # given a delivered campaign to three contacts
    gone, *kept = make.contacts([f"+1202555{i:04d}" for i in range(3)])
    make.route("main")
    cid = make.campaign()
    launch(engine, actor, cid)
    worker = Worker(engine)
    worker.add_channel("main", loopback("main", worker.on_report))

    async def drain() -> None:
        await worker.start()
        while await worker.step():
            pass
        await worker.close()

    asyncio.run(drain())
    assert _count(engine, message_attempts) == 6  # submitted and delivered, each
    assert _count(engine, compliance_send_log) == 3
    # when one contact is deleted
    with engine.begin() as conn:
        conn.execute(contacts.delete().where(contacts.c.id == gone))
    # then its message, that message's attempts and its send log row are gone, no other
    assert _count(engine, messages) == 2
    assert _count(engine, message_attempts) == 4
    assert _count(engine, compliance_send_log, compliance_send_log.c.contact_id == gone) == 0
    assert _count(engine, compliance_send_log) == 2
    # and when the campaign is deleted, every attempt of its messages goes with them
    with engine.begin() as conn:
        conn.execute(campaigns.delete().where(campaigns.c.id == cid))
    assert _count(engine, messages) == 0
    assert _count(engine, message_attempts) == 0
    assert _count(engine, compliance_send_log) == 2  # the send history outlives the campaign
    assert kept
