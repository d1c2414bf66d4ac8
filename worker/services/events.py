"""Change notifications: one ``LISTEN titan_events`` connection a front end can hold open.

Every table Titan writes sends a NOTIFY on ``titan_events`` (JSON: table, op, count, ids, ...).
The desktop's live updates read them through ``EventStream``; nothing here runs a query.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import psycopg

from worker.db.engine import libpq_url

CHANNEL = "titan_events"


class EventStream:
    """``async with EventStream(url) as stream: async for payload in stream.payloads(): ...``"""

    def __init__(self, url: str, *, connect_timeout: float = 5) -> None:
        self.url = libpq_url(url)
        self.connect_timeout = connect_timeout
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def __aenter__(self) -> EventStream:
        """Connect and start listening; raises the driver's error when the server is away."""
        self._conn = await psycopg.AsyncConnection.connect(
            self.url, autocommit=True, connect_timeout=int(self.connect_timeout))
        await self._conn.execute(f"LISTEN {CHANNEL}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def payloads(self) -> AsyncIterator[str]:
        """Each notification's JSON text as it arrives; ends (with an error) when the
        connection drops."""
        assert self._conn is not None, "use EventStream in an async with block"
        async for note in self._conn.notifies():
            yield note.payload

    def drop(self) -> None:
        """Cut the connection as if the server had gone away (tests, diagnostics)."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.pgconn.finish()
