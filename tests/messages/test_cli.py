"""``clarion text inspect`` and ``clarion template ...`` through Typer's CliRunner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clarion.cli.main import app
from clarion.config import get_settings

runner = CliRunner()


def _lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_text_inspect_reads_stdin_one_json_object_per_line() -> None:
    # given three messages on standard input and two routes' prices
    stdin = "a" * 161 + "\nHello “you”\n" + "中" * 71 + "\n"
    # when inspected
    result = runner.invoke(
        app, ["text", "inspect", "--price", "sim=0.01", "--price", "cn=0.035"], input=stdin
    )
    # then each line reports encoding, units, parts, forcing characters and cost per route
    assert result.exit_code == 0, result.output
    got = _lines(result.stdout)
    assert [(g["encoding"], g["units"], g["parts"]) for g in got] == [
        ("gsm7", 161, 2),
        ("ucs2", 11, 1),
        ("ucs2", 71, 2),
    ]
    assert got[1]["ucs2_forced_by"] == ["“", "”"]
    assert got[2]["cost"] == {"sim": 0.02, "cn": 0.07}


def test_text_inspect_with_text_and_lookalike_replacement() -> None:
    result = runner.invoke(app, ["text", "inspect", "--text", "It’s on", "--replace-lookalikes"])
    assert result.exit_code == 0, result.output
    (got,) = _lines(result.stdout)
    assert got["encoding"] == "gsm7" and got["replaced"] == [["’", "'"]]
    assert "cost" not in got


def test_text_inspect_refuses_a_bad_price() -> None:
    result = runner.invoke(app, ["text", "inspect", "--text", "x", "--price", "sim"])
    assert result.exit_code == 2


@pytest.fixture
def sqlite_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CLARION_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_template_save_lint_list_preview(sqlite_db: Path) -> None:
    # given a template file with a Chinese variant
    (sqlite_db / "zh.txt").write_text("{{ contact.first_name | default('您') }}好", "utf-8")
    result = runner.invoke(
        app,
        [
            "template",
            "save",
            "hello",
            "--body",
            "Hi {{ contact.first_name | default('there') }}",
            "--variant",
            f"zh-CN=@{sqlite_db / 'zh.txt'}",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["variants"] == {
        "zh-CN": "{{ contact.first_name | default('您') }}好"
    }
    # then it lints clean and is listed
    assert runner.invoke(app, ["template", "lint", "hello"]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["template", "list"]).stdout)
    assert [t["name"] for t in listed] == ["hello"]
    # and a broken text is reported with its position, exit status 1
    bad = runner.invoke(app, ["template", "lint", "--body", "x\n  {{ order.totl }}"])
    assert bad.exit_code == 1
    (problem,) = json.loads(bad.stdout)["problems"]
    assert (problem["line"], problem["column"], problem["name"]) == (2, 6, "order.totl")
    # and saving it fails with one readable line, exit status 2
    failed = runner.invoke(app, ["template", "save", "bad", "--body", "{{ nope }}"])
    assert failed.exit_code == 2
    # and preview for an unknown contact says so
    missing = runner.invoke(app, ["template", "preview", "hello", "--contact", "12345"])
    assert missing.exit_code == 2
