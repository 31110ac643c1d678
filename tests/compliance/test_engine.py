"""The DB-facing engine: each jurisdiction's rules block, move or allow, naming the rule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor, entries
from clarion.compliance import Decision, Message, evaluate
from clarion.compliance.settings import TermIn, add_terms, set_policy
from clarion.compliance.suppression import SuppressionIn, add_suppressions, remove_suppression
from clarion.errors import NotFound, ValidationFailed

from .conftest import MakeContact

SentBefore = Callable[[int, list[datetime]], None]

CN_OK = "【好店】春季新品上市，全场八折，回T退订"
US_OK = "Acme: spring sale, 20% off today. Reply STOP to opt out"
UK_OK = "Acme: spring sale, 20% off today. Reply STOP to unsubscribe"
NOON_SHANGHAI = datetime(2026, 5, 6, 4, 0, tzinfo=UTC)
NOON_LA = datetime(2026, 5, 6, 19, 0, tzinfo=UTC)
NOON_LONDON = datetime(2026, 5, 6, 11, 0, tzinfo=UTC)


def decide(
    engine: Engine,
    ws: int,
    ids: list[int],
    text: str | Message,
    at: datetime,
    purpose: str = "marketing",
) -> dict[int, Decision]:
    with engine.connect() as conn:
        return evaluate(conn, ws, ids, text, purpose, "sms", at)


def codes(d: Decision, severity: str = "block") -> list[str]:
    return [r.code for r in d.reasons if r.severity == severity]


@pytest.fixture
def brand(engine: Engine, actor: Actor) -> None:
    with engine.begin() as conn:
        set_policy(conn, actor, "*", {"brand": "Acme"})


# ---- China ---------------------------------------------------------------------------------


def test_cn_compliant_message_at_noon_goes_now(
    engine: Engine, workspace_id: int, make_contact: MakeContact
) -> None:
    cid = make_contact("+8613812345678")
    d = decide(engine, workspace_id, [cid], CN_OK, NOON_SHANGHAI)[cid]
    assert d.allowed and d.send_at == NOON_SHANGHAI and d.reasons == []
    assert (d.jurisdiction, d.zone, d.zone_source) == ("CN", "Asia/Shanghai", "phone")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("春季新品上市，回T退订", "cn_signature_missing"),
        ("【好店】春季【新品】上市，回T退订", "cn_signature_extra_brackets"),
        ("【好店】春季新品上市，全场八折", "opt_out_missing"),
    ],
)
def test_cn_wording_rules_block(
    engine: Engine, workspace_id: int, make_contact: MakeContact, text: str, code: str
) -> None:
    cid = make_contact("+8613812345678")
    d = decide(engine, workspace_id, [cid], text, NOON_SHANGHAI)[cid]
    assert not d.allowed and codes(d) == [code]
    assert d.reasons[0].rule.startswith("CN.")


def test_cn_22_00_is_moved_to_08_00_next_day(
    engine: Engine, workspace_id: int, make_contact: MakeContact
) -> None:
    cid = make_contact("+8613812345678")
    at = datetime(2026, 5, 6, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai
    d = decide(engine, workspace_id, [cid], CN_OK, at)[cid]
    assert d.allowed
    assert d.send_at == datetime(2026, 5, 7, 0, 0, tzinfo=UTC)  # 08:00 on 7 May
    assert codes(d, "info") == ["quiet_hours"]
    assert "22:00 in Asia/Shanghai" in d.reasons[0].detail


def test_cn_gambling_term_blocks_with_position(
    engine: Engine, workspace_id: int, make_contact: MakeContact
) -> None:
    cid = make_contact("+8613812345678")
    text = "【好店】周末博\u200b彩优惠，回T退订"
    d = decide(engine, workspace_id, [cid], text, NOON_SHANGHAI)[cid]
    assert not d.allowed and codes(d) == ["content_blocked"]
    assert "gambling: '博彩' at text[6:9]" in d.reasons[0].detail


# ---- United States -------------------------------------------------------------------------


def test_us_marketing_without_consent_is_blocked(
    engine: Engine, workspace_id: int, make_contact: MakeContact, brand: None
) -> None:
    no_row = make_contact("+13105550123", consent=None)
    pending = make_contact("+13105550124", consent="pending")
    soft = make_contact("+13105550125", soft_opt_in=True)
    got = decide(engine, workspace_id, [no_row, pending, soft], US_OK, NOON_LA)
    assert codes(got[no_row]) == ["no_consent"]
    assert codes(got[pending]) == ["no_consent"]
    assert codes(got[soft]) == ["soft_opt_in_not_enough"]
    assert got[no_row].reasons[0].rule == "US.consent"


def test_us_21_30_in_los_angeles_is_moved_to_08_00(
    engine: Engine, workspace_id: int, make_contact: MakeContact, brand: None
) -> None:
    cid = make_contact("+13105550123")
    at = datetime(2026, 5, 7, 4, 30, tzinfo=UTC)  # 21:30 PDT on 6 May
    d = decide(engine, workspace_id, [cid], US_OK, at)[cid]
    assert d.allowed and d.zone == "America/Los_Angeles" and d.zone_source == "phone"
    assert d.send_at == datetime(2026, 5, 7, 15, 0, tzinfo=UTC)  # 08:00 PDT on 7 May
    assert [r.rule for r in d.reasons] == ["US.send_window"]


def test_the_contacts_own_zone_wins_over_the_numbers(
    engine: Engine, workspace_id: int, make_contact: MakeContact, brand: None
) -> None:
    # given a Los Angeles number whose owner lives in New York
    cid = make_contact("+13105550123", timezone="America/New_York")
    at = datetime(2026, 5, 7, 1, 30, tzinfo=UTC)  # 18:30 in LA, 21:30 in New York
    d = decide(engine, workspace_id, [cid], US_OK, at)[cid]
    assert (d.zone, d.zone_source) == ("America/New_York", "contact")
    assert d.send_at == datetime(2026, 5, 7, 12, 0, tzinfo=UTC)  # 08:00 EDT


def test_florida_cap_of_3_in_24_hours(
    engine: Engine,
    workspace_id: int,
    make_contact: MakeContact,
    sent_before: SentBefore,
    brand: None,
) -> None:
    # given two Florida contacts, one sent 3 marketing texts today, the other 2 (and 1 older)
    at = datetime(2026, 5, 6, 16, 0, tzinfo=UTC)  # 12:00 in Miami
    busy = make_contact("+13055550123")
    calm = make_contact("+13055550124")
    sent_before(busy, [at - timedelta(hours=h) for h in (1, 5, 23)])
    sent_before(calm, [at - timedelta(hours=h) for h in (1, 5, 25)])
    # when a fourth is evaluated
    got = decide(engine, workspace_id, [busy, calm], US_OK, at)
    # then the busy one is capped by Florida's rule, the other is not
    assert codes(got[busy]) == ["frequency_cap"]
    assert got[busy].reasons[0].rule == "US-FL.caps"
    assert "3 marketing messages in the last 24 h (at most 3)" in got[busy].reasons[0].detail
    assert got[calm].allowed


def test_florida_window_ends_at_20_00(
    engine: Engine, workspace_id: int, make_contact: MakeContact, brand: None
) -> None:
    cid = make_contact("+13055550123")
    at = datetime(2026, 5, 7, 0, 30, tzinfo=UTC)  # 20:30 EDT
    d = decide(engine, workspace_id, [cid], US_OK, at)[cid]
    assert d.send_at == datetime(2026, 5, 7, 12, 0, tzinfo=UTC)
    assert d.reasons[0].rule == "US-FL.send_window"


def test_first_message_to_a_new_subscriber_needs_brand_and_stop(
    engine: Engine,
    workspace_id: int,
    make_contact: MakeContact,
    sent_before: SentBefore,
    brand: None,
) -> None:
    new = make_contact("+13105550123")
    known = make_contact("+13105550124")
    sent_before(known, [NOON_LA - timedelta(days=30)])
    got = decide(engine, workspace_id, [new, known], "Spring sale, 20% off today", NOON_LA)
    assert codes(got[new]) == ["first_message_brand_missing", "first_message_stop_missing"]
    assert got[known].allowed
    # with brand and STOP wording, the new subscriber gets it too
    assert decide(engine, workspace_id, [new], US_OK, NOON_LA)[new].allowed


# ---- EU / UK -------------------------------------------------------------------------------


def test_uk_flagged_soft_opt_in_is_allowed_and_said_so(
    engine: Engine, workspace_id: int, make_contact: MakeContact
) -> None:
    cid = make_contact("+447400123456", soft_opt_in=True)
    d = decide(engine, workspace_id, [cid], UK_OK, NOON_LONDON)[cid]
    assert d.allowed and d.jurisdiction == "GB"
    assert codes(d, "info") == ["soft_opt_in"]


def test_uk_marketing_without_opt_out_is_blocked(
    engine: Engine, workspace_id: int, make_contact: MakeContact
) -> None:
    cid = make_contact("+447400123456")
    d = decide(engine, workspace_id, [cid], "Acme: spring sale today", NOON_LONDON)[cid]
    assert codes(d) == ["opt_out_missing"] and d.reasons[0].rule == "GB.opt_out"


def test_eu_marketing_in_german_with_abmelden_is_allowed(
    engine: Engine, workspace_id: int, make_contact: MakeContact
) -> None:
    cid = make_contact("+4915112345678")
    d = decide(engine, workspace_id, [cid], "Acme: Sale! Abmelden: STOP an 12345", NOON_LONDON)
    assert d[cid].allowed and d[cid].jurisdiction == "EU"


# ---- transactional -------------------------------------------------------------------------


def test_transactional_at_23_00_goes_now_without_marketing_consent(
    engine: Engine, workspace_id: int, make_contact: MakeContact
) -> None:
    cid = make_contact("+13105550123", consent=None)
    at = datetime(2026, 5, 7, 6, 0, tzinfo=UTC)  # 23:00 PDT
    d = decide(engine, workspace_id, [cid], "Your code is 123456", at, "transactional")[cid]
    assert d.allowed and d.send_at == at and d.reasons == []


def test_revoked_transactional_consent_is_honoured(
    engine: Engine, workspace_id: int, make_contact: MakeContact
) -> None:
    cid = make_contact("+13105550123", consent="opted_out", purpose="transactional")
    d = decide(engine, workspace_id, [cid], "Your order shipped", NOON_LA, "transactional")[cid]
    assert codes(d) == ["consent_revoked"]


# ---- suppression, duplicates, workspace settings -------------------------------------------


def test_suppressed_addresses_are_blocked_until_lifted(
    engine: Engine, workspace_id: int, actor: Actor, make_contact: MakeContact, brand: None
) -> None:
    cid = make_contact("+13105550123")
    other = make_contact("+13105550124")
    with engine.begin() as conn:
        added = add_suppressions(
            conn,
            actor,
            [
                SuppressionIn("+1 310 555 0123", reason="complaint"),
                SuppressionIn("+13105550124", expires_at=NOON_LA - timedelta(days=1)),
            ],
        )
    assert added == 2
    got = decide(engine, workspace_id, [cid, other], US_OK, NOON_LA)
    assert codes(got[cid]) == ["suppressed"] and "complaint" in got[cid].reasons[0].detail
    assert got[other].allowed  # that suppression has expired
    with engine.begin() as conn:
        assert add_suppressions(conn, actor, [SuppressionIn("+13105550123")]) == 0
        remove_suppression(conn, actor, "+13105550123")
        with pytest.raises(NotFound):
            remove_suppression(conn, actor, "+13105550123")
    assert decide(engine, workspace_id, [cid], US_OK, NOON_LA)[cid].allowed
    with engine.connect() as conn:
        actions = [e.action for e in entries(conn, workspace_id, object_type="suppression")]
    assert actions == ["suppression.remove", "suppression.add"]


def test_a_bad_suppression_names_the_row(engine: Engine, actor: Actor) -> None:
    with pytest.raises(ValidationFailed) as err, engine.begin() as conn:
        add_suppressions(conn, actor, [SuppressionIn("a@b.c"), SuppressionIn("12")])
    assert err.value.fields == {"field": "value", "value": "12", "row": 1}


def test_a_contact_listed_twice_gets_one_decision(
    engine: Engine, workspace_id: int, make_contact: MakeContact, brand: None
) -> None:
    a = make_contact("+13105550123")
    b = make_contact("+13105550124")
    got = decide(engine, workspace_id, [a, b, a, a], US_OK, NOON_LA)
    assert list(got) == [a, b]
    assert all(d.allowed for d in got.values())


def test_unknown_contacts_are_reported_not_skipped(
    engine: Engine, workspace_id: int, make_contact: MakeContact
) -> None:
    got = decide(engine, workspace_id, [999_999], US_OK, NOON_LA)
    assert codes(got[999_999]) == ["unknown_contact"]


def test_workspace_cap_counts_across_campaigns(
    engine: Engine,
    workspace_id: int,
    actor: Actor,
    make_contact: MakeContact,
    sent_before: SentBefore,
) -> None:
    # given a workspace allowing at most 2 marketing SMS per 7 days
    with engine.begin() as conn:
        set_policy(conn, actor, "*", {"brand": "Acme", "caps": [{"count": 2, "days": 7}]})
    cid = make_contact("+13105550123")
    sent_before(cid, [NOON_LA - timedelta(days=2), NOON_LA - timedelta(days=6)])
    # when a third is evaluated, it is capped; transactional texts are not counted or capped
    d = decide(engine, workspace_id, [cid], US_OK, NOON_LA)[cid]
    assert codes(d) == ["frequency_cap"] and "in the last 168 h" in d.reasons[0].detail
    tx = decide(engine, workspace_id, [cid], "Your order shipped", NOON_LA, "transactional")
    assert tx[cid].allowed


def test_workspace_terms_extend_screening(
    engine: Engine, workspace_id: int, actor: Actor, make_contact: MakeContact, brand: None
) -> None:
    with engine.begin() as conn:
        add_terms(conn, actor, [TermIn("mega deal", "own_policy", "block", "US")])
    cid = make_contact("+13055550123")  # Florida: extends US, so US terms apply
    d = decide(engine, workspace_id, [cid], "Acme MEGA DEAL today. Reply STOP to end", NOON_LA)
    assert codes(d[cid]) == ["content_blocked"]
    assert d[cid].reasons[0].rule == "US-FL.screening.workspace"


def test_policy_settings_are_validated(engine: Engine, actor: Actor) -> None:
    with pytest.raises(ValidationFailed) as err, engine.begin() as conn:
        set_policy(conn, actor, "US", {"marketing_consent": "whatever"})
    assert err.value.fields["field"] == "US.marketing_consent"
    with pytest.raises(ValidationFailed), engine.begin() as conn:
        set_policy(conn, actor, "Mars", {})


def test_purpose_and_time_are_checked(engine: Engine, workspace_id: int) -> None:
    with pytest.raises(ValidationFailed) as err, engine.connect() as conn:
        evaluate(conn, workspace_id, [], "x", "spam", "sms", NOON_LA)
    assert err.value.fields["field"] == "purpose"


def test_cn_transactional_needs_the_signature_but_no_opt_out_or_window(
    engine: Engine, workspace_id: int, make_contact: MakeContact
) -> None:
    cid = make_contact("+8613812345678", consent=None)
    at = datetime(2026, 5, 6, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    ok = decide(engine, workspace_id, [cid], "【好店】您的验证码是 123456", at, "transactional")
    assert ok[cid].allowed and ok[cid].send_at == at
    bare = decide(engine, workspace_id, [cid], "您的验证码是 123456", at, "transactional")
    assert codes(bare[cid]) == ["cn_signature_missing"]
