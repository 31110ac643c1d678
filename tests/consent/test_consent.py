"""Consent: an append-only ledger, the state derived from it, and its rebuild."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.consent.service import (
    ConsentIn,
    consent_history,
    current_consent,
    rebuild_state,
    record_consent,
)
from clarion.consent.tables import consent_ledger, consent_state
from clarion.contacts.service import ContactIn, upsert_contacts
from clarion.errors import NotFound, ValidationFailed

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def contact_id(engine: Engine, actor: Actor) -> int:
    with engine.begin() as conn:
        cid = upsert_contacts(conn, actor, [ContactIn(phone="+8613800138000")]).ids[0]
    assert cid is not None
    return cid


def _state(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                consent_state.c.contact_id,
                consent_state.c.channel,
                consent_state.c.purpose,
                consent_state.c.status,
                consent_state.c.ledger_id,
                consent_state.c.since,
            ).order_by(consent_state.c.contact_id, consent_state.c.channel)
        ).all()
    return [tuple(r) for r in rows]


def test_every_statement_is_kept_and_the_latest_is_the_state(
    engine: Engine, actor: Actor, contact_id: int
) -> None:
    # given an opt-in from a form, then STOP by SMS reply
    with engine.begin() as conn:
        n = record_consent(
            conn,
            actor,
            [
                ConsentIn(contact_id, "sms", "marketing", "opted_in", "form", "Yes, text me", T0),
                ConsentIn(
                    contact_id,
                    "sms",
                    "marketing",
                    "opted_out",
                    "keyword",
                    "STOP",
                    T0 + timedelta(1),
                ),
                ConsentIn(contact_id, "email", "marketing", "pending", "form", None, T0),
            ],
        )
    # then three ledger rows, and the state says opted out with the reply as proof
    assert n == 3
    with engine.connect() as conn:
        history = consent_history(conn, actor.workspace_id, contact_id)
        state = {
            (s["channel"], s["purpose"]): s
            for s in current_consent(conn, actor.workspace_id, contact_id)
        }
    assert [h["status"] for h in history] == ["opted_in", "pending", "opted_out"]
    assert state[("sms", "marketing")]["status"] == "opted_out"
    assert state[("sms", "marketing")]["proof"] == "STOP"
    assert state[("email", "marketing")]["status"] == "pending"


def test_a_late_arriving_older_statement_is_kept_but_does_not_win(
    engine: Engine, actor: Actor, contact_id: int
) -> None:
    with engine.begin() as conn:
        record_consent(
            conn,
            actor,
            [ConsentIn(contact_id, "sms", "marketing", "opted_out", "keyword", None, T0)],
        )
    # when an older opt-in is recorded afterwards (e.g. a delayed form export)
    with engine.begin() as conn:
        record_consent(
            conn,
            actor,
            [
                ConsentIn(
                    contact_id, "sms", "marketing", "opted_in", "form", None, T0 - timedelta(1)
                )
            ],
        )
    # then it is in the ledger but the state stays opted out
    with engine.connect() as conn:
        assert len(consent_history(conn, actor.workspace_id, contact_id)) == 2
        assert current_consent(conn, actor.workspace_id, contact_id)[0]["status"] == "opted_out"


def test_only_changes_appends_nothing_when_the_status_is_the_same(
    engine: Engine, actor: Actor, contact_id: int
) -> None:
    entry = ConsentIn(contact_id, "sms", "marketing", "opted_in", "import", "row 2")
    with engine.begin() as conn:
        assert record_consent(conn, actor, [entry], only_changes=True) == 1
        assert record_consent(conn, actor, [entry], only_changes=True) == 0
        # without only_changes a repeated statement is evidence too, and is kept
        assert record_consent(conn, actor, [entry]) == 1
        count = conn.execute(sa.select(sa.func.count()).select_from(consent_ledger)).scalar_one()
    assert count == 2


def test_only_changes_does_not_re_add_an_old_opt_in_after_a_later_stop(
    engine: Engine, actor: Actor, contact_id: int
) -> None:
    # given an imported opt-in and, later, a STOP
    signup = ConsentIn(
        contact_id, "sms", "marketing", "opted_in", "import", "row 2", T0 - timedelta(days=10)
    )
    stop = ConsentIn(contact_id, "sms", "marketing", "opted_out", "keyword", "STOP", T0)
    with engine.begin() as conn:
        assert record_consent(conn, actor, [signup], only_changes=True) == 1
        assert record_consent(conn, actor, [stop]) == 1
        # when the same file is imported again
        appended = record_consent(conn, actor, [signup], only_changes=True)
    # then the ledger gains nothing and the contact stays opted out
    assert appended == 0
    with engine.connect() as conn:
        assert len(consent_history(conn, actor.workspace_id, contact_id)) == 2
        assert current_consent(conn, actor.workspace_id, contact_id)[0]["status"] == "opted_out"


def test_rebuild_derives_the_same_state_from_the_ledger_alone(
    engine: Engine, actor: Actor, contact_id: int
) -> None:
    # given a history recorded out of order, in several calls
    with engine.begin() as conn:
        other = upsert_contacts(conn, actor, [ContactIn(email="b@example.com")]).ids[0]
        assert other is not None
        for days, status in [(3, "opted_in"), (1, "opted_out"), (5, "pending"), (4, "opted_in")]:
            record_consent(
                conn,
                actor,
                [
                    ConsentIn(
                        contact_id, "sms", "marketing", status, "api", None, T0 + timedelta(days)
                    ),
                    ConsentIn(
                        other, "email", "transactional", status, "api", None, T0 + timedelta(days)
                    ),
                ],
            )
    incremental = _state(engine)
    # when the state is thrown away and rebuilt
    with engine.begin() as conn:
        conn.execute(consent_state.delete())
        assert rebuild_state(conn, actor.workspace_id) == 2
    # then it is the same, and it is the latest statement (pending on day 5)
    assert _state(engine) == incremental
    assert {row[3] for row in incremental} == {"pending"}


def test_the_ledger_is_never_rewritten(engine: Engine, actor: Actor, contact_id: int) -> None:
    with engine.begin() as conn:
        record_consent(
            conn, actor, [ConsentIn(contact_id, "sms", "marketing", "opted_in", "form", "a", T0)]
        )
        before = conn.execute(sa.select(consent_ledger)).all()
        record_consent(
            conn, actor, [ConsentIn(contact_id, "sms", "marketing", "opted_out", "keyword", "STOP")]
        )
        rows = conn.execute(sa.select(consent_ledger).order_by(consent_ledger.c.id)).all()
    assert rows[: len(before)] == before and len(rows) == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"channel": "fax"}, "channel"),
        ({"purpose": "spam"}, "purpose"),
        ({"status": "maybe"}, "status"),
        ({"source": ""}, "source"),
        ({"occurred_at": datetime(2026, 1, 1)}, "occurred_at"),  # noqa: DTZ001
    ],
)
def test_unknown_values_are_refused_naming_the_field(
    engine: Engine, actor: Actor, contact_id: int, change: dict[str, object], field: str
) -> None:
    entry = ConsentIn(contact_id, "sms", "marketing", "opted_in", "form")
    for k, v in change.items():
        setattr(entry, k, v)
    with pytest.raises(ValidationFailed) as err, engine.begin() as conn:
        record_consent(conn, actor, [entry])
    assert err.value.fields["field"] == field


def test_consent_for_an_unknown_contact_is_not_found(engine: Engine, actor: Actor) -> None:
    with pytest.raises(NotFound), engine.begin() as conn:
        record_consent(conn, actor, [ConsentIn(999, "sms", "marketing", "opted_in", "form")])
