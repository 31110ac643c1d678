"""The send service: validation, compliance, rendering, idempotency and the worker's lane."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.campaigns.control import launch
from clarion.compliance.suppression import SuppressionIn, add_suppressions
from clarion.db.types import utcnow
from clarion.delivery import dispatcher, hooks
from clarion.delivery.channels import build_channels
from clarion.delivery.tables import messages
from clarion.delivery.worker import Worker
from clarion.errors import Conflict, NotFound, ValidationFailed
from clarion.messages.service import save_template
from clarion.sending.jobs import expire_overdue
from clarion.sending.queries import get_message, list_messages
from clarion.sending.service import SendRefused, SendRequest, send_batch, send_message


def _send(engine: Engine, actor: Actor, **kw: Any) -> dict[str, Any]:
    with engine.begin() as conn:
        return send_message(conn, actor, SendRequest(**kw))


def _status(engine: Engine, workspace_id: int, mid: int) -> str:
    with engine.connect() as conn:
        return str(get_message(conn, workspace_id, mid)["status"])


def test_a_transactional_message_is_queued_sent_through_the_smsc_and_delivered(
    engine: Engine, actor: Actor, make: Any, smsc: Any, run_worker: Any
) -> None:
    # given a contact and a saved template using the contact and an order variable
    (cid,) = make.contacts(["+12025550100"])
    with engine.begin() as conn:
        save_template(
            conn,
            actor,
            name="order_confirmation",
            body="Hi {{ contact.first_name }}, order {{ order.id }} is confirmed.",
            purpose="transactional",
        )
    # when the template is sent to the contact
    msg = _send(
        engine,
        actor,
        contact_id=cid,
        template="order_confirmation",
        variables={"order": {"id": "A-17"}},
        metadata={"order": "A-17"},
    )
    # then it is queued, rendered, counted and routed
    assert msg["status"] == "queued" and msg["to"] == "+12025550100"
    assert msg["text"] == "Hi Ann0, order A-17 is confirmed."
    assert (msg["encoding"], msg["parts"], msg["kind"]) == ("gsm7", 1, "transactional")
    assert msg["metadata"] == {"order": "A-17"}
    # and a worker sends it through the simulator, whose receipt marks it delivered
    run_worker(
        engine,
        actor.workspace_id,
        lambda: _status(engine, actor.workspace_id, msg["id"]) == "delivered",
    )
    assert smsc.destinations() == ["12025550100"]
    with engine.connect() as conn:
        shown = get_message(conn, actor.workspace_id, msg["id"])
    assert [h["status"] for h in shown["history"]] == ["queued", "submitted", "delivered"]
    assert shown["provider_id"] and shown["history"][1]["provider_ids"] == [shown["provider_id"]]


def test_a_number_that_belongs_to_no_contact_gets_transactional_text_but_not_marketing(
    engine: Engine, actor: Actor, make: Any, smsc: Any
) -> None:
    # given no contact with this number
    # when a transactional text is sent to it (national form, read in the workspace's region)
    msg = _send(engine, actor, to="(202) 555-0199", text="Your code is 123456")
    # then it is queued to the E.164 number with no contact
    assert msg["to"] == "+12025550199" and msg["contact_id"] is None
    # but marketing to the same number is refused for want of consent
    with pytest.raises(SendRefused) as refused:
        _send(engine, actor, to="+12025550199", text="Acme: 20% off", kind="marketing")
    assert refused.value.fields["reasons"][0]["code"] == "no_consent"


def test_a_suppressed_address_is_refused_even_for_transactional(
    engine: Engine, actor: Actor, make: Any, smsc: Any
) -> None:
    # given a suppressed number, one with a contact and one without
    (cid,) = make.contacts(["+12025550101"])
    with engine.begin() as conn:
        add_suppressions(
            conn, actor, [SuppressionIn("+12025550101"), SuppressionIn("+12025550102")]
        )
    # when transactional messages are sent to both
    # then both are refused, naming the suppression
    for kw in ({"contact_id": cid}, {"to": "+12025550102"}):
        with pytest.raises(SendRefused) as refused:
            _send(engine, actor, text="Your code is 123456", **kw)
        assert [r["code"] for r in refused.value.fields["reasons"]] == ["suppressed"]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(messages)).scalar() == 0


def test_marketing_to_a_contact_without_consent_is_refused_with_the_reason(
    engine: Engine, actor: Actor, make: Any, smsc: Any
) -> None:
    # given a contact with no marketing consent and one who opted in
    (no,) = make.contacts(["+12025550103"], consent=None)
    (yes,) = make.contacts(["+12025550104"])
    # when marketing is sent to both
    with pytest.raises(SendRefused) as refused:
        _send(
            engine,
            actor,
            contact_id=no,
            text="Acme: 20% off. Reply STOP to opt out",
            kind="marketing",
        )
    ok = _send(
        engine, actor, contact_id=yes, text="Acme: 20% off. Reply STOP to opt out", kind="marketing"
    )
    # then the first is refused for want of consent and the second queued on the bulk lane
    assert "no_consent" in [r["code"] for r in refused.value.fields["reasons"]]
    assert ok["status"] == "queued" and ok["kind"] == "marketing"
    with engine.connect() as conn:
        lane = conn.execute(sa.select(messages.c.lane).where(messages.c.id == ok["id"])).scalar()
    assert lane == "bulk"


def test_the_same_idempotency_key_returns_the_same_message_and_a_different_body_conflicts(
    engine: Engine, actor: Actor, make: Any, smsc: Any
) -> None:
    # given a message sent with an idempotency key
    first = _send(engine, actor, to="+12025550105", text="Code 1", idempotency_key="k-1")
    # when the same request is sent again
    again = _send(engine, actor, to="+12025550105", text="Code 1", idempotency_key="k-1")
    # then it is the same message, and only one row exists
    assert again["id"] == first["id"]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(messages)).scalar() == 1
    # and a different request under the key is a conflict naming the key and the message
    with pytest.raises(Conflict) as conflict:
        _send(engine, actor, to="+12025550105", text="Code 2", idempotency_key="k-1")
    assert conflict.value.code == "idempotency_conflict"
    assert conflict.value.fields["message_id"] == first["id"]


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"to": "+12025550106"}, "text"),
        ({"text": "x"}, "to"),
        ({"to": "+1202", "text": "x"}, "to"),
        ({"to": "+12025550106", "text": "x", "channel": "fax"}, "channel"),
        ({"to": "+12025550106", "text": "x", "kind": "promo"}, "kind"),
        ({"to": "+12025550106", "text": "x", "validity": timedelta(0)}, "validity"),
        ({"to": "+12025550106", "text": "x", "callback_url": "ftp://x"}, "callback_url"),
        ({"to": "+12025550106", "text": "{{ nope.x }}"}, "text"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(
    engine: Engine, actor: Actor, smsc: Any, kw: dict[str, Any], field: str
) -> None:
    # given a bad request; when it is sent; then the error names the field
    with pytest.raises(ValidationFailed) as err:
        _send(engine, actor, **kw)
    assert err.value.fields.get("field") == field, err.value.fields


def test_an_unknown_contact_or_template_is_not_found(
    engine: Engine, actor: Actor, smsc: Any
) -> None:
    with pytest.raises(NotFound):
        _send(engine, actor, contact_id=999, text="x")
    with pytest.raises(NotFound):
        _send(engine, actor, to="+12025550107", template="missing")


def test_a_batch_queues_the_good_and_reports_the_bad_in_place(
    engine: Engine, actor: Actor, smsc: Any
) -> None:
    # given a batch with a bad number in the middle
    reqs = [
        SendRequest(to="+12025550108", text="one"),
        SendRequest(to="12", text="two"),
        SendRequest(to="+12025550109", text="three"),
    ]
    # when it is sent
    with engine.begin() as conn:
        out = send_batch(conn, actor, reqs)
    # then the good ones are queued and the bad one is an error with its index
    assert [o.get("status") for o in out] == ["queued", None, "queued"]
    assert out[1]["index"] == 1 and out[1]["error"]["fields"]["field"] == "to"
    with engine.connect() as conn:
        listed = list_messages(conn, actor.workspace_id)
    assert [m["text"] for m in listed] == ["three", "one"]


def test_a_transactional_message_is_sent_while_a_campaign_is_queued(
    engine: Engine, actor: Actor, make: Any, smsc: Any
) -> None:
    # given a queued campaign of 300 and then a transactional message
    make.contacts([f"+1202556{i:04d}" for i in range(300)])
    cid = make.campaign(variants=[{"name": "A", "body": "Acme: 20% off. Reply STOP to opt out"}])
    launch(engine, actor, cid)
    msg = _send(engine, actor, to="+12025550110", text="Your code is 99")
    # when the worker runs one step with a small bulk batch
    worker = Worker(engine, workspace_id=actor.workspace_id, batch_size=50)
    with engine.connect() as conn:
        for name, channel in build_channels(conn, actor.workspace_id, worker.on_report).items():
            worker.add_channel(name, channel)

    async def one_step() -> None:
        await worker.start()
        await worker.step()
        await worker.close()

    asyncio.run(one_step())
    # then the transactional message went out in that first step, ahead of most of the campaign
    assert _status(engine, actor.workspace_id, msg["id"]) in ("submitted", "delivered")
    with engine.connect() as conn:
        queued = conn.execute(
            sa.select(sa.func.count()).where(
                messages.c.campaign_id == cid, messages.c.status == "queued"
            )
        ).scalar()
    assert queued == 250


def test_a_message_whose_validity_passes_while_queued_expires_unsent(
    engine: Engine, actor: Actor, smsc: Any
) -> None:
    # given a message with 60 s validity that is still queued 2 minutes later (no worker ran)
    msg = _send(
        engine,
        actor,
        to="+12025550140",
        text="Your code is 1",
        validity=timedelta(seconds=60),
        send_at=utcnow() - timedelta(minutes=2),
    )
    # when the expiry job runs (twice, as two workers might)
    assert expire_overdue(engine) == 1
    assert expire_overdue(engine) == 0
    # then it is expired, never sent, and the history says why
    with engine.connect() as conn:
        shown = get_message(conn, actor.workspace_id, msg["id"])
    assert shown["status"] == "expired" and shown["submitted_at"] is None
    assert shown["history"][-1]["status"] == "expired"
    assert shown["history"][-1]["code"] == "VALIDITY_PASSED"
    assert smsc.destinations() == []


def test_a_throttled_campaign_does_not_starve_marketing_sends_of_the_api(
    engine: Engine, actor: Actor, make: Any, smsc: Any
) -> None:
    # given a running campaign with a throughput limit (the worker claims it apart)
    make.contacts([f"+1202557{i:04d}" for i in range(3)])
    cid = make.campaign(
        throughput_per_s=1,
        variants=[{"name": "A", "body": "Acme: 20% off. Reply STOP to opt out"}],
    )
    launch(engine, actor, cid)
    (yes,) = make.contacts(["+12025550141"])
    msg = _send(
        engine, actor, contact_id=yes, text="Acme: sale. Reply STOP to opt out", kind="marketing"
    )
    # when the bulk claim runs, skipping the throttled campaign
    with engine.begin() as conn:
        got = dispatcher.claim(conn, "w1", connectors={"sim"}, limit=100, now=utcnow(), skip={cid})
    # then the API's marketing message is claimed and no campaign message is
    assert [c.id for c in got] == [msg["id"]] and got[0].campaign_id is None


def test_the_worker_runs_the_expiry_and_webhook_jobs() -> None:
    # given every feature's jobs module; then the send API's and the webhooks' jobs are there
    names = {j.name for j in hooks.jobs()}
    assert {"sending.expire", "webhooks.collect", "webhooks.send"} <= names
