"""Open the database a process should use: start the embedded server if needed, migrate."""

from __future__ import annotations

import asyncio

from worker.config import Settings
from worker.db.engine import Database, database_url
from worker.db.migrate import upgrade


def prepare_database(settings: Settings, *, migrate: bool = True) -> str:
    """Blocking: returns the URL of a reachable, migrated database."""
    url = database_url(settings)
    if migrate:
        upgrade(url)
    return url


async def open_database(settings: Settings, *, migrate: bool = True, pool_size: int = 5
                        ) -> Database:
    url = await asyncio.to_thread(prepare_database, settings, migrate=migrate)
    return Database(url, pool_size=pool_size)
