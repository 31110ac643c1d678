"""``clarion import contacts`` and ``clarion contacts`` from the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

import clarion.config
import clarion.db.engine
from clarion.cli.main import app


@pytest.fixture
def cli(engine: Engine, workspace_id: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("CLARION_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    clarion.config.get_settings.cache_clear()
    clarion.db.engine._engine_for.cache_clear()
    yield CliRunner()
    clarion.db.engine._engine_for.cache_clear()
    clarion.config.get_settings.cache_clear()


def test_import_contacts_with_a_map_prints_a_report(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "kunden.csv"
    path.write_text("Handy;Name;Land\n0151 23456789;Eva;DE\n0151;Kurz;DE\n", encoding="utf-8")
    rejects = tmp_path / "rej.csv"
    result = cli.invoke(
        app,
        [
            "import",
            "contacts",
            str(path),
            "--map",
            "Handy=phone,Name=first_name,Land=country",
            "--rejects",
            str(rejects),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["outcomes"] == {"created": 1} and report["rejected"] == 1
    assert rejects.read_text(encoding="utf-8").splitlines()[1].startswith("3,phone,0151,")
    # and the contact can be read back
    got = cli.invoke(app, ["contacts", "list"])
    assert got.exit_code == 0
    assert json.loads(got.stdout)[0]["phone"] == "+4915123456789"


def test_a_bad_map_is_one_readable_line_and_exit_2(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("a\n1\n", encoding="utf-8")
    result = cli.invoke(app, ["import", "contacts", str(path), "--map", "a=nonsense"])
    assert result.exit_code == 2
    assert "cannot map column" in result.output and "nonsense" in result.output


def test_consent_from_the_command_line(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"email": "e@example.com"}\n', encoding="utf-8")
    assert cli.invoke(app, ["import", "contacts", str(path), "--no-progress"]).exit_code == 0
    result = cli.invoke(
        app,
        ["contacts", "consent", "1", "--channel", "email", "--status", "opted_out", "--proof", "x"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["status"] == "opted_out"
