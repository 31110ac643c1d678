"""The send log behind frequency caps and the first-message rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from clarion.compliance.history import SendLogHistory, SendLogRow, log_sends
from clarion.errors import ValidationFailed

from .conftest import MakeContact

NOW = datetime(2026, 5, 6, 12, 0, tzinfo=UTC)


def test_counts_are_per_contact_channel_purpose_and_since(
    engine: Engine, workspace_id: int, make_contact: MakeContact
) -> None:
    # given sends on several channels and purposes, recent and old
    a, b, c = (make_contact(p) for p in ("+13105550101", "+13105550102", "+13105550103"))
    rows = [
        SendLogRow(workspace_id, a, "sms", "marketing", NOW - timedelta(hours=1), 7, "m1"),
        SendLogRow(workspace_id, a, "sms", "marketing", NOW - timedelta(hours=30), 8, "m2"),
        SendLogRow(workspace_id, a, "sms", "transactional", NOW - timedelta(hours=1)),
        SendLogRow(workspace_id, a, "email", "marketing", NOW - timedelta(hours=1)),
        SendLogRow(workspace_id, b, "sms", "marketing", NOW - timedelta(hours=2)),
    ]
    with engine.begin() as conn:
        assert log_sends(conn, rows) == 5
    history = SendLogHistory()
    with engine.connect() as conn:
        # when counted for the last 24 hours and ever
        day = history.counts(
            conn, workspace_id, [a, b, c], "sms", "marketing", NOW - timedelta(hours=24)
        )
        ever = history.counts(conn, workspace_id, [a, b, c], "sms", "marketing", None)
    # then only marketing SMS count, and contacts without sends are absent
    assert day == {a: 1, b: 1}
    assert ever == {a: 2, b: 1}


def test_log_sends_refuses_naive_times_naming_the_row(engine: Engine, workspace_id: int) -> None:
    naive = datetime(2026, 5, 6, 12, 0)  # noqa: DTZ001
    row = {"workspace_id": workspace_id, "contact_id": 1, "channel": "sms", "purpose": "marketing"}
    with pytest.raises(ValidationFailed) as err, engine.begin() as conn:
        log_sends(conn, [{**row, "sent_at": NOW}, {**row, "sent_at": naive}])
    assert err.value.fields["row"] == 1
