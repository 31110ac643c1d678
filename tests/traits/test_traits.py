"""The traits store: bulk writes that replace, reads per contact, workspace isolation."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor, entries
from clarion.contacts.tables import contacts
from clarion.db.types import utcnow
from clarion.errors import ValidationFailed
from clarion.traits.service import get_traits, set_traits, trait_names
from clarion.traits.tables import contact_traits
from clarion.workspaces.service import ensure_workspace


def _contacts(engine: Engine, workspace_id: int, n: int) -> list[int]:
    now = utcnow()
    with engine.begin() as conn:
        return [
            int(
                conn.execute(
                    contacts.insert()
                    .values(
                        workspace_id=workspace_id, attributes={}, created_at=now, updated_at=now
                    )
                    .returning(contacts.c.id)
                ).scalar_one()
            )
            for _ in range(n)
        ]


def test_set_traits_writes_and_replaces_in_bulk(engine: Engine, actor: Actor) -> None:
    # given three contacts
    a, b, c = _contacts(engine, actor.workspace_id, 3)
    # when a model writes a score for two, then a new version for one of them and the third
    with engine.begin() as conn:
        assert (
            set_traits(conn, actor, "churn_risk", {a: 0.2, b: 0.9}, source="churn", version="1")
            == 2
        )
        assert (
            set_traits(conn, actor, "churn_risk", {b: 0.4, c: 0.7}, source="churn", version="2")
            == 2
        )
        set_traits(conn, actor, "cluster", {a: "bargain hunters"}, source="kmeans", version="3")
    # then each contact holds one row per trait, with the latest value and its provenance
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(contact_traits)).scalar_one()
        assert rows == 4
        got_a = get_traits(conn, actor.workspace_id, a)
        got_b = get_traits(conn, actor.workspace_id, b)
        assert trait_names(conn, actor.workspace_id) == ["churn_risk", "cluster"]
        audit = [e.action for e in entries(conn, actor.workspace_id, object_type="trait")]
    assert got_a["churn_risk"]["value"] == 0.2
    assert got_a["cluster"] == {
        "value": "bargain hunters",
        "computed_at": got_a["cluster"]["computed_at"],
        "source": "kmeans",
        "version": "3",
    }
    assert got_b["churn_risk"]["value"] == 0.4 and got_b["churn_risk"]["version"] == "2"
    assert audit == ["traits.set"] * 3


def test_set_traits_refuses_contacts_of_another_workspace(engine: Engine, actor: Actor) -> None:
    with engine.begin() as conn:
        other = ensure_workspace(conn, "other")
    (foreign,) = _contacts(engine, other, 1)
    (mine,) = _contacts(engine, actor.workspace_id, 1)
    with pytest.raises(ValidationFailed) as err, engine.begin() as conn:
        set_traits(conn, actor, "rfm", {mine: 1, foreign: 5}, source="rfm", version="1")
    assert err.value.fields["row"] == foreign


@pytest.mark.parametrize(("name", "value"), [("Bad Name", 1.0), ("ok", True), ("ok", None)])
def test_set_traits_validates_names_and_values(
    engine: Engine, actor: Actor, name: str, value: object
) -> None:
    (cid,) = _contacts(engine, actor.workspace_id, 1)
    with pytest.raises(ValidationFailed), engine.begin() as conn:
        set_traits(conn, actor, name, {cid: value}, source="x", version="1")  # type: ignore[dict-item]
