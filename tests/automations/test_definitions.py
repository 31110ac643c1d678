"""Journey definitions: validation that names the step and field, versions, files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from tests.automations.helpers import Journeys, wait_journey

from clarion.audit.service import Actor
from clarion.automations import service
from clarion.automations.models import parse_definition
from clarion.errors import Conflict, NotFound, ValidationFailed

EXAMPLES = Path(__file__).parents[2] / "examples" / "journeys"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (
            {"steps": [{"id": "w", "wait": {"duration": "an hour"}}]},
            "steps[0] (id 'w').wait.duration",
            "not a duration",
        ),
        ({"steps": [{"id": "w", "wait": {}}]}, "steps[0] (id 'w').wait", "needs 'duration'"),
        (
            {"steps": [{"id": "s", "send": {"text": "hi", "kind": "promo"}}]},
            "steps[0] (id 's').send.kind",
            "transactional",
        ),
        (
            {"steps": [{"id": "s", "send": {"text": "hi", "template": "t"}}]},
            "steps[0] (id 's').send",
            "exactly one of 'template' or 'text'",
        ),
        (
            {"steps": [{"id": "b", "branch": {"if": {"field": "country"}, "then": "b"}}]},
            "steps[0] (id 'b').branch.then",
            "not after this step",
        ),
        (
            {"steps": [{"id": "b", "branch": {"if": {"field": "country"}, "else": "nowhere"}}]},
            "steps[0] (id 'b').branch.else",
            "no step 'nowhere'",
        ),
        (
            {"steps": [{"id": "a", "exit": True}, {"id": "a", "exit": True}]},
            "steps[1] (id 'a').id",
            "used twice",
        ),
        (
            {"steps": [{"id": "x", "wait": {"until": "25:00"}}]},
            "steps[0] (id 'x').wait.until",
            "not a local time",
        ),
        (
            {"steps": [{"id": "x", "wait": {"duration": "1h"}, "exit": True}]},
            "steps[0] (id 'x')",
            "exactly one of",
        ),
        ({"trigger": {"event": "x", "segment": 3}}, "trigger", "exactly one of"),
        ({"entry": {"reentry": "once_per"}}, "entry", "'period'"),
        ({"steps": []}, "steps", "at least 1"),
        ({"colour": "red"}, "colour", "Extra inputs"),
    ],
)
def test_a_bad_definition_is_refused_naming_the_step_and_field(
    change: dict[str, Any], field: str, words: str
) -> None:
    # given a valid journey with one thing wrong
    doc = {**wait_journey(), **change}
    # when it is parsed
    with pytest.raises(ValidationFailed) as err:
        parse_definition(doc)
    # then the error names where, and why
    assert err.value.fields["field"] == field
    assert words in err.value.message


def test_shorthand_filters_and_durations_are_read_and_written_back(jt: Journeys) -> None:
    # given a definition using shorthands: a bare value, {gte: 20}, "1h30m", exit with no value
    doc = wait_journey(
        trigger={"event": "cart_abandoned", "where": {"currency": "EUR", "total": {"gte": 20}}},
        steps=[
            {"id": "w", "wait": {"duration": "1h30m", "until": "10:00"}},
            {"id": "x", "exit": None},
        ],
    )
    # when it is saved
    saved = jt.save(doc)
    # then the stored document is the canonical form
    d = saved["definition"]
    assert d["trigger"]["where"] == {
        "currency": {"op": "eq", "value": "EUR"},
        "total": {"op": "gte", "value": 20},
    }
    assert d["steps"][0]["wait"] == {"duration": "1h30m", "until": "10:00"}
    assert d["steps"][1]["exit"] == {"reason": "exit step"}
    # and parsing the canonical form again gives the same definition
    assert parse_definition(d) == parse_definition(doc)


def test_saving_a_changed_definition_adds_a_version_and_an_unchanged_one_does_not(
    jt: Journeys, engine: Engine
) -> None:
    # given a saved journey
    first = jt.save(wait_journey())
    assert (first["version"], first["created"], first["changed"]) == (1, True, True)
    # when the same definition is saved again
    again = jt.save(wait_journey())
    # then nothing changes
    assert (again["version"], again["created"], again["changed"]) == (1, False, False)
    # when a step changes
    doc = wait_journey(
        steps=[{"id": "wait", "wait": {"duration": "2h"}}, {"id": "done", "exit": True}]
    )
    second = jt.save(doc)
    # then it is version 2, and version 1 is still readable as it was
    assert (second["version"], second["versions"]) == (2, [1, 2])
    with engine.connect() as conn:
        old = service.get_journey(conn, jt.ws, "cart", version=1)
    assert old["definition"]["steps"][0]["wait"]["duration"] == "1h"
    assert second["definition"]["steps"][0]["wait"]["duration"] == "2h"


def test_a_send_step_naming_a_missing_template_is_refused(jt: Journeys) -> None:
    # given a journey sending a template the workspace does not have
    doc = wait_journey(steps=[{"id": "remind", "send": {"template": "nope"}}])
    # when it is saved, then the error names the step and field
    with pytest.raises(ValidationFailed) as err:
        jt.save(doc)
    assert err.value.fields["field"] == "steps[0] (id 'remind').send.template"
    assert err.value.fields["step"] == "remind"


def test_pause_resume_archive_and_lookups(jt: Journeys, engine: Engine, actor: Actor) -> None:
    # given an active journey
    jt.save(wait_journey())
    with engine.begin() as conn:
        # when it is paused and resumed
        assert service.set_status(conn, actor, "cart", "paused")["status"] == "paused"
        assert service.set_status(conn, actor, "cart", "active")["status"] == "active"
        # and archived
        assert service.set_status(conn, actor, "cart", "archived")["status"] == "archived"
        # then it cannot come back, nor be saved over
        with pytest.raises(Conflict):
            service.set_status(conn, actor, "cart", "active")
    with pytest.raises(Conflict):
        jt.save(wait_journey())
    with engine.connect() as conn:
        assert [j["name"] for j in service.list_journeys(conn, jt.ws)] == ["cart"]
        with pytest.raises(NotFound):
            service.get_journey(conn, jt.ws, "nope")
        with pytest.raises(ValidationFailed):
            service.set_status(conn, actor, "cart", "asleep")


def test_yaml_files_with_several_journeys_are_read(tmp_path: Path) -> None:
    # given a YAML file with two documents
    f = tmp_path / "j.yaml"
    f.write_text(
        "name: a\ntrigger: {event: x}\nsteps: [{id: s, exit: }]\n---\n"
        "name: b\ntrigger: {event: y}\nsteps: [{id: s, exit: }]\n"
    )
    # when it is read, then both come back
    assert [d["name"] for d in service.read_definitions(f)] == ["a", "b"]
    # and a broken file names its line
    f.write_text("name: a\nsteps: [\n")
    with pytest.raises(ValidationFailed) as err:
        service.read_definitions(f)
    assert err.value.fields["field"] == "file" and "line" in err.value.fields


def test_the_shipped_examples_are_valid() -> None:
    # given the sample definitions in examples/journeys
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert files
    # then every one parses
    for f in files:
        for doc in service.read_definitions(f):
            parse_definition(doc)
