"""SMPP connectors stored in the database, through the service, the API and the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from clarion.audit.service import Actor, entries
from clarion.channels.smpp import service
from clarion.cli.main import app
from clarion.config import get_settings
from clarion.db.engine import get_engine
from clarion.errors import Conflict, NotFound, ValidationFailed
from clarion.workspaces.service import create_api_key

BASE = {"host": "127.0.0.1", "port": 2775, "system_id": "clarion", "password": "secret"}


def test_a_connector_is_created_read_back_as_config_and_audited(
    engine: Engine, actor: Actor
) -> None:
    # given a connector with SAR concatenation and hex ids in responses
    with engine.begin() as conn:
        made = service.create_connector(
            conn,
            actor,
            "operator-a",
            {**BASE, "concatenation": "sar", "submit_id_format": "hex", "response_timeout": 3.5},
        )
    # then the listing hides the password
    assert made["password_set"] is True and "password" not in made
    # and a worker reads it back as a ConnectorConfig with the password and the options
    with engine.connect() as conn:
        cfg = service.connector_config(conn, actor.workspace_id, "operator-a")
        audit = entries(conn, actor.workspace_id, object_type="smpp_connector")
    assert (cfg.password, cfg.concatenation, cfg.submit_id_format) == ("secret", "sar", "hex")
    assert cfg.response_timeout == 3.5 and cfg.window == 64
    # and the audit log has the creation without the password
    assert audit[0].action == "smpp_connector.create"
    assert audit[0].details["password"] == "***"


def test_settings_are_checked_against_smpp_limits(engine: Engine, actor: Actor) -> None:
    with engine.begin() as conn:
        with pytest.raises(ValidationFailed) as long_id:
            service.create_connector(conn, actor, "x", {**BASE, "system_id": "a" * 16})
        assert long_id.value.fields["field"] == "system_id"
        with pytest.raises(ValidationFailed) as mode:
            service.create_connector(conn, actor, "x", {**BASE, "concatenation": "magic"})
        assert mode.value.fields["field"] == "concatenation"
        with pytest.raises(ValidationFailed) as missing:
            service.create_connector(conn, actor, "x", {"host": "h"})
        assert missing.value.fields["missing"] == ["port", "system_id", "password"]
        with pytest.raises(ValidationFailed) as unknown:
            service.create_connector(conn, actor, "x", {**BASE, "speed": 9})
        assert unknown.value.fields["field"] == "speed"


def test_update_merges_options_and_delete_removes(engine: Engine, actor: Actor) -> None:
    with engine.begin() as conn:
        service.create_connector(conn, actor, "a", {**BASE, "bind_timeout": 2.0})
        service.update_connector(conn, actor, "a", {"window": 256, "enquire_link_interval": 5.0})
        cfg = service.connector_config(conn, actor.workspace_id, "a")
        assert (cfg.window, cfg.bind_timeout, cfg.enquire_link_interval) == (256, 2.0, 5.0)
        with pytest.raises(Conflict):
            service.create_connector(conn, actor, "a", BASE)
        service.delete_connector(conn, actor, "a")
        with pytest.raises(NotFound):
            service.get_connector(conn, actor.workspace_id, "a")


def test_api_manages_connectors(engine: Engine, actor: Actor, api: httpx.Client) -> None:
    # given an admin key
    with engine.begin() as conn:
        _, token = create_api_key(conn, actor, "ops", ["admin"])
    client = api
    auth = {"Authorization": f"Bearer {token}"}
    # when a connector is created, changed and listed
    made = client.post("/v1/connectors/smpp", json={"name": "op", **BASE}, headers=auth)
    assert made.status_code == 201, made.text
    changed = client.patch("/v1/connectors/smpp/op", json={"binds": 4}, headers=auth)
    listed = client.get("/v1/connectors/smpp", headers=auth).json()
    # then the change is there and no password is shown
    assert changed.json()["binds"] == 4
    assert [c["name"] for c in listed] == ["op"] and "password" not in listed[0]
    # and bad input names its field
    bad = client.patch("/v1/connectors/smpp/op", json={"port": 70000}, headers=auth)
    assert bad.status_code == 422 and bad.json()["error"]["fields"]["field"] == "port"
    assert client.get("/v1/connectors/smpp/none", headers=auth).status_code == 404
    assert client.delete("/v1/connectors/smpp/op", headers=auth).status_code == 204


def test_api_refuses_keys_without_admin(engine: Engine, actor: Actor, api: httpx.Client) -> None:
    with engine.begin() as conn:
        _, token = create_api_key(conn, actor, "ro", ["reports:read"])
    got = api.get("/v1/connectors/smpp", headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 403


def test_cli_adds_sets_and_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a fresh embedded database for the command line
    monkeypatch.setenv("CLARION_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CLARION_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        # when a connector is added, changed and listed
        added = runner.invoke(app, [
            "connector", "add", "sim", "--system-id", "clarion", "--password", "secret",
            "--set", "window=32", "--set", "concatenation=payload",
        ])  # fmt: skip
        assert added.exit_code == 0, added.output
        changed = runner.invoke(app, ["connector", "set", "sim", "--set", "throughput=50"])
        assert changed.exit_code == 0, changed.output
        listed = runner.invoke(app, ["connector", "list"])
        # then the settings are stored
        rows = orjson.loads(listed.stdout)
        assert rows[0]["window"] == 32 and rows[0]["throughput"] == 50
        assert rows[0]["concatenation"] == "payload"
        # and a bad value is one readable line and exit status 2
        refused = runner.invoke(app, ["connector", "set", "sim", "--set", "binds=0"])
        assert refused.exit_code == 2
    finally:
        get_engine().dispose()
        get_settings.cache_clear()


def test_cli_check_binds_a_stored_connector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the simulator in its own process and a connector stored for it
    sim = subprocess.Popen(
        [sys.executable, "-c", "from clarion.cli.main import main; main()", "smsc", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert sim.stdout is not None
    port = orjson.loads(sim.stdout.readline())["smpp"].rsplit(":", 1)[1]
    monkeypatch.setenv("CLARION_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CLARION_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        add = ["connector", "add", "sim", "--port", port, "--system-id", "clarion"]
        assert runner.invoke(app, [*add, "--password", "secret", "--set", "binds=2"]).exit_code == 0
        # when it is checked, then both binds come up
        good = runner.invoke(app, ["connector", "check", "sim"])
        assert good.exit_code == 0, good.output
        assert orjson.loads(good.stdout)["binds_up"] == 2
        # and with a wrong password the check fails and says why
        runner.invoke(app, ["connector", "set", "sim", "--set", "password=wrong"])
        bad = runner.invoke(app, ["connector", "check", "sim"])
        assert bad.exit_code == 1 and "ESME_RINVPASWD" in bad.stdout
    finally:
        sim.terminate()
        sim.wait(timeout=10)
        get_engine().dispose()
        get_settings.cache_clear()
