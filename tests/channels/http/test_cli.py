"""``clarion connector`` for provider kinds: add, list, show, set, check, delete, kinds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.channels.email.conftest import SmtpSink, smtp
from typer.testing import CliRunner, Result

from clarion.cli.main import app
from clarion.config import get_settings
from clarion.db.engine import get_engine

__all__ = ["smtp"]

SID = "AC" + "0123456789abcdef" * 2


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A CLI runner on a fresh embedded database."""
    monkeypatch.setenv("CLARION_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CLARION_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        yield CliRunner()
    finally:
        get_engine().dispose()
        get_settings.cache_clear()


def _json(result: Result) -> Any:
    return orjson.loads(result.stdout)


def test_a_twilio_connector_is_managed_without_showing_its_token(runner: CliRunner) -> None:
    # when a Twilio connector is added with a numeric-looking token
    added = runner.invoke(app, [
        "connector", "add", "tw", "--kind", "twilio", "--set", f"account_sid={SID}",
        "--set", "auth_token=1234567890", "--set", "sender=+15005550006",
    ])  # fmt: skip
    assert added.exit_code == 0, added.output
    # then it is listed beside SMPP connectors with the names of its secrets only
    listed = runner.invoke(app, ["connector", "list"])
    (row,) = _json(listed)
    assert row["kind"] == "twilio" and row["secrets_set"] == ["auth_token"]
    assert "1234567890" not in listed.stdout and "1234567890" not in added.stdout
    assert row["callback_path"].startswith("/v1/callbacks/cb_")
    # and a setting changes, a bad one is refused in one line naming the field
    changed = runner.invoke(app, ["connector", "set", "tw", "--set", "concurrency=4"])
    assert changed.exit_code == 0 and _json(changed)["settings"]["concurrency"] == 4
    bad = runner.invoke(app, ["connector", "set", "tw", "--set", "account_sid=XX1"])
    assert bad.exit_code == 2 and "account_sid" in bad.output
    typo = runner.invoke(app, ["connector", "set", "tw", "--set", "acount_sid=AC1"])
    assert typo.exit_code == 2 and "acount_sid" in typo.output
    # and it is deleted
    assert runner.invoke(app, ["connector", "delete", "tw"]).exit_code == 0
    assert _json(runner.invoke(app, ["connector", "list"])) == []


def test_an_unknown_kind_is_refused(runner: CliRunner) -> None:
    result = runner.invoke(app, ["connector", "add", "x", "--kind", "carrier-pigeon"])
    assert result.exit_code == 2 and "carrier-pigeon" in result.output


def test_kinds_lists_every_provider_with_its_secrets(runner: CliRunner) -> None:
    out = _json(runner.invoke(app, ["connector", "kinds"]))
    assert isinstance(out, dict)
    assert set(out) == {
        "smpp", "twilio", "vonage", "aliyun", "tencent", "engagelab", "kannel", "jasmin", "smtp"
    }  # fmt: skip
    assert out["tencent"]["secrets"] == ["secret_key"] and out["smtp"]["channel"] == "email"


def test_check_logs_in_to_an_smtp_relay(runner: CliRunner, smtp: SmtpSink) -> None:
    # given an SMTP connector for the loopback server, and one with a wrong password
    common = ["--set", "host=127.0.0.1", "--set", f"port={smtp.port}",
              "--set", "username=mailer", "--set", "from_address=news@acme.example",
              "--set", "timeout_s=3"]  # fmt: skip
    ok = ["connector", "add", "mail", "--kind", "smtp", *common, "--set", "password=s3cret"]
    bad = ["connector", "add", "mail2", "--kind", "smtp", *common, "--set", "password=nope"]
    assert runner.invoke(app, ok).exit_code == 0
    assert runner.invoke(app, bad).exit_code == 0
    # when each is checked
    good = runner.invoke(app, ["connector", "check", "mail"])
    wrong = runner.invoke(app, ["connector", "check", "mail2"])
    # then the first logs in, the second fails and says why (the relay never accepts it)
    assert good.exit_code == 0 and _json(good)["ok"] is True
    failed = _json(wrong)
    assert wrong.exit_code == 1 and failed["ok"] is False and failed["error"]
    assert smtp.logins == ["mailer"]
