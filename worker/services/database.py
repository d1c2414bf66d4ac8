"""The database handle as front ends hold it: opaque.

A front end gets a ``Database`` from ``worker.bootstrap.open_database`` and hands it to services;
it never opens sessions itself. This module names the type (for hints) and says where the
database is in words a person can read, so ``titan_desktop`` needs nothing from
``worker.db.engine``.
"""

from __future__ import annotations

from worker.db.engine import Database, describe_url

__all__ = ["Database", "describe"]


def describe(db: Database) -> str:
    """Host and database name, never the password."""
    return describe_url(db.url)
