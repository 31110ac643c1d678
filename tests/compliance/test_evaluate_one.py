"""The single-recipient path (``evaluate_one``) decides exactly as the batch engine does.

The send API decides one contact at a time through one query and cached workspace settings;
the campaign planner decides thousands at a time through set-based queries. Both must reach
the same verdict, the same reasons and the same send time for every kind of case.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.compliance import evaluate
from clarion.compliance.engine import evaluate_one
from clarion.compliance.settings import set_policy
from clarion.compliance.suppression import SuppressionIn, add_suppressions
from clarion.consent.service import ConsentIn, record_consent
from clarion.contacts.tables import contacts
from clarion.errors import ValidationFailed

from .conftest import MakeContact

US_OK = "Acme: spring sale, 20% off today. Reply STOP to opt out"
NOON_LA = datetime(2026, 5, 6, 19, 0, tzinfo=UTC)
NIGHT_LA = datetime(2026, 5, 6, 10, 0, tzinfo=UTC)  # 03:00 in Los Angeles

Case = Callable[[MakeContact, Engine, Actor, Callable[..., None]], int]


@pytest.fixture(autouse=True)
def brand(engine: Engine, actor: Actor) -> None:
    """The US first-message rule wants the brand named: the workspace names it."""
    with engine.begin() as conn:
        set_policy(conn, actor, "*", {"brand": "Acme"})


def _opt_out(engine: Engine, actor: Actor, cid: int, source: str, purpose: str) -> None:
    with engine.begin() as conn:
        record_consent(conn, actor, [ConsentIn(cid, "sms", purpose, "opted_out", source)])


def opted_in(make: MakeContact, engine: Engine, actor: Actor, sent: Callable[..., None]) -> int:
    return make("+12135550101")


def stop_keyword(make: MakeContact, engine: Engine, actor: Actor, sent: Callable[..., None]) -> int:
    cid = make("+12135550102")
    _opt_out(engine, actor, cid, "sms_keyword", "marketing")
    return cid


def revoked_by_import(
    make: MakeContact, engine: Engine, actor: Actor, sent: Callable[..., None]
) -> int:
    cid = make("+12135550103")
    _opt_out(engine, actor, cid, "import", "marketing")
    return cid


def no_consent(make: MakeContact, engine: Engine, actor: Actor, sent: Callable[..., None]) -> int:
    return make("+12135550104", consent=None)


def soft_opt_in_in_us(
    make: MakeContact, engine: Engine, actor: Actor, sent: Callable[..., None]
) -> int:
    return make("+12135550105", soft_opt_in=True)


def frequency_cap_florida(
    make: MakeContact, engine: Engine, actor: Actor, sent: Callable[..., None]
) -> int:
    cid = make("+13055550106")  # Miami: US-FL caps marketing at 3 per 24 h
    sent(cid, [NOON_LA - timedelta(hours=h) for h in (1, 2, 3)])
    return cid


def suppressed(make: MakeContact, engine: Engine, actor: Actor, sent: Callable[..., None]) -> int:
    cid = make("+12135550107")
    with engine.begin() as conn:
        add_suppressions(conn, actor, [SuppressionIn("+12135550107", reason="complaint")])
    return cid


def transactional_stop(
    make: MakeContact, engine: Engine, actor: Actor, sent: Callable[..., None]
) -> int:
    cid = make("+12135550108", purpose="transactional")
    _opt_out(engine, actor, cid, "sms_keyword", "transactional")
    return cid


def no_contact(make: MakeContact, engine: Engine, actor: Actor, sent: Callable[..., None]) -> int:
    return 987_654


CASES: list[tuple[str, Case, str, datetime]] = [
    ("opted in, marketing at noon", opted_in, "marketing", NOON_LA),
    ("STOP by keyword", stop_keyword, "marketing", NOON_LA),
    ("revoked by an import", revoked_by_import, "marketing", NOON_LA),
    ("no consent", no_consent, "marketing", NOON_LA),
    ("soft opt-in where express is needed", soft_opt_in_in_us, "marketing", NOON_LA),
    ("quiet hours move the send", opted_in, "marketing", NIGHT_LA),
    ("frequency cap", frequency_cap_florida, "marketing", NOON_LA),
    ("suppression list", suppressed, "marketing", NOON_LA),
    ("suppression also stops transactional", suppressed, "transactional", NOON_LA),
    ("transactional needs no consent, ignores quiet hours", no_consent, "transactional", NIGHT_LA),
    ("transactional STOP", transactional_stop, "transactional", NOON_LA),
    ("unknown contact", no_contact, "marketing", NOON_LA),
]


@pytest.mark.parametrize(("name", "case", "purpose", "at"), CASES, ids=[c[0] for c in CASES])
def test_one_recipient_is_decided_as_the_batch_decides_it(
    engine: Engine,
    actor: Actor,
    workspace_id: int,
    make_contact: MakeContact,
    sent_before: Callable[..., None],
    name: str,
    case: Case,
    purpose: str,
    at: datetime,
) -> None:
    # given a contact in the situation of the case
    cid = case(make_contact, engine, actor, sent_before)
    # when the batch engine and the single path decide the same send
    with engine.connect() as conn:
        batch = evaluate(conn, workspace_id, [cid], US_OK, purpose, "sms", at)[cid]
        one = evaluate_one(conn, workspace_id, cid, US_OK, purpose, "sms", at)
    # then they agree on everything: verdict, reasons (in order), send time, zone
    assert one.as_dict() == batch.as_dict()


def test_the_cases_do_reach_different_verdicts(
    engine: Engine,
    actor: Actor,
    workspace_id: int,
    make_contact: MakeContact,
    sent_before: Callable[..., None],
) -> None:
    # given every case of the table
    seen = {}
    for name, case, purpose, at in CASES:
        cid = case(make_contact, engine, actor, sent_before)
        with engine.connect() as conn:
            d = evaluate_one(conn, workspace_id, cid, US_OK, purpose, "sms", at)
        seen[name] = (d.allowed, [r.code for r in d.reasons if r.severity == "block"])
    # then the table covers what it claims (a table of agreeing no-ops would prove nothing)
    assert seen["opted in, marketing at noon"] == (True, [])
    assert seen["STOP by keyword"] == (False, ["opted_out"])
    assert seen["revoked by an import"] == (False, ["consent_revoked"])
    assert seen["no consent"] == (False, ["no_consent"])
    assert seen["frequency cap"] == (False, ["frequency_cap"])
    assert seen["suppression list"][1][0] == "suppressed"
    assert seen["suppression also stops transactional"] == (False, ["suppressed"])
    assert seen["transactional needs no consent, ignores quiet hours"] == (True, [])
    assert seen["transactional STOP"] == (False, ["opted_out"])
    assert seen["unknown contact"] == (False, ["unknown_contact"])


def test_a_policy_change_reaches_the_next_single_decision_at_once(
    engine: Engine, actor: Actor, workspace_id: int, make_contact: MakeContact
) -> None:
    # given a decision that read (and cached) the workspace's settings
    cid = make_contact("+12135550109")
    with engine.connect() as conn:
        before = evaluate_one(conn, workspace_id, cid, US_OK, "marketing", "sms", NOON_LA)
    assert before.allowed
    # when the workspace narrows its send window to the early morning
    with engine.begin() as conn:
        set_policy(conn, actor, "*", {"send_window": ["08:00", "09:00"]})
    # then the very next decision in this process moves the noon send (no stale 2 s window)
    with engine.connect() as conn:
        after = evaluate_one(conn, workspace_id, cid, US_OK, "marketing", "sms", NOON_LA)
    assert after.send_at > NOON_LA
    assert "quiet_hours" in [r.code for r in after.reasons]


def test_an_unknown_workspace_is_refused_like_the_batch_refuses_it(engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(ValidationFailed):
        evaluate_one(conn, 424_242, 1, US_OK, "marketing", "sms", NOON_LA)
    with engine.connect() as conn, pytest.raises(ValidationFailed):
        evaluate(conn, 424_242, [1], US_OK, "marketing", "sms", NOON_LA)


@pytest.mark.parametrize(
    ("purpose", "at"),
    [("marketing", NOON_LA), ("marketing", NIGHT_LA), ("transactional", NIGHT_LA)],
)
def test_a_batch_of_alike_and_unlike_recipients_is_decided_as_one_by_one(
    engine: Engine,
    actor: Actor,
    workspace_id: int,
    make_contact: MakeContact,
    sent_before: Callable[..., None],
    purpose: str,
    at: datetime,
) -> None:
    # given every case's contact in one batch, with twins the batch engine decides once and
    # copies: alike contacts, one in another zone, one of no zone field but a number's, and a
    # Miami twin of the capped contact without its history (the cap must not spread to it)
    cases = list(dict.fromkeys(case for _, case, _, _ in CASES))
    ids = [case(make_contact, engine, actor, sent_before) for case in cases]
    ids += [make_contact(f"+1213555{200 + i:04d}") for i in range(3)]
    ids += [make_contact("+12135550300", timezone="America/New_York")]
    ids += [make_contact("+12135550301")]
    with engine.begin() as conn:  # a zone no import would take, as an older row may hold
        conn.execute(contacts.update().where(contacts.c.id == ids[-1]).values(timezone="Not/AZone"))
    ids += [make_contact("+13055550302")]
    # when the batch engine decides them all in one call, and the single path one by one
    with engine.connect() as conn:
        batch = evaluate(conn, workspace_id, ids, US_OK, purpose, "sms", at)
        one = {cid: evaluate_one(conn, workspace_id, cid, US_OK, purpose, "sms", at) for cid in ids}
    # then every recipient's decision is its own: verdict, reasons, send time and zone
    assert {cid: d.as_dict() for cid, d in batch.items()} == {
        cid: d.as_dict() for cid, d in one.items()
    }
    # and the cap blocked the capped contact only (marketing at noon)
    if (purpose, at) == ("marketing", NOON_LA):
        capped = ids[cases.index(frequency_cap_florida)]
        assert [r.code for r in batch[capped].reasons if r.severity == "block"] == ["frequency_cap"]
        assert batch[ids[-1]].allowed
