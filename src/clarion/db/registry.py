"""Find every feature's ``tables`` module so the shared ``MetaData`` is complete.

Each feature declares its tables in ``clarion/<feature>/tables.py`` (or a ``tables`` module in a
sub-package). Migrations and test fixtures call :func:`load_all_tables` rather than keeping a
hand-written list that a new feature could forget to join.
"""

from __future__ import annotations

import importlib
import pkgutil

import sqlalchemy as sa

import clarion
from clarion.db.meta import metadata


def load_all_tables() -> sa.MetaData:
    """Import every ``clarion.**.tables`` module and return the populated metadata."""
    for info in pkgutil.walk_packages(clarion.__path__, prefix="clarion."):
        if info.name.rsplit(".", 1)[-1] == "tables":
            importlib.import_module(info.name)
    return metadata
