"""``clarion demo`` on the command line: files and database under --data-dir, one-line errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from clarion.cli.main import app
from clarion.config import get_settings


@pytest.fixture
def no_database_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("CLARION_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("no_database_url")
def test_demo_builds_into_the_data_dir(tmp_path: Path) -> None:
    # when the demo runs with a small base into a folder of its own
    args = ["demo", "--contacts", "60", "--seed", "5", "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(app, [*args, "--now", "2026-06-30T00:00:00+02:00"])
    # then it succeeds, prints its summary, and the database and the export are in that folder
    assert result.exit_code == 0, result.output
    assert "the demo workspace now holds" in result.output
    assert (tmp_path / "demo" / "contacts-seed5-60.csv").exists()
    eng = sa.create_engine(f"sqlite:///{tmp_path / 'clarion.db'}")
    with eng.connect() as conn:
        contacts = conn.execute(sa.text("SELECT count(*) FROM contacts")).scalar_one()
        latest = conn.execute(sa.text("SELECT max(placed_at) FROM orders")).scalar_one()
    eng.dispose()
    assert 50 <= contacts <= 60
    assert latest < "2026-06-29 22:00:00"


@pytest.mark.usefixtures("no_database_url")
def test_a_bad_reference_time_is_one_readable_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--data-dir", str(tmp_path), "--now", "soon"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert "--now must be an ISO date or time" in result.output and "soon" in result.output
