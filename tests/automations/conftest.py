"""Journey test fixtures (helpers in ``tests/automations/helpers.py``)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from tests.automations.helpers import Journeys

from clarion.audit.service import Actor


@pytest.fixture
def jt(engine: Engine, actor: Actor) -> Journeys:
    return Journeys(engine, actor)
