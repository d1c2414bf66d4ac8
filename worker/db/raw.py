"""Plain psycopg connections: the worker's hot path, without SQLAlchemy.

The queue's statements are written for psycopg and run either on a worker's own autocommit
connection (one round trip per statement, no BEGIN/COMMIT, no pool pre-ping) or, inside a
service's transaction, on the psycopg connection under a SQLAlchemy session.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeAlias, cast

import psycopg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

# What the queue's statements run on: a psycopg connection, or a SQLAlchemy session or
# connection whose transaction they join.
Executor: TypeAlias = psycopg.AsyncConnection[Any] | AsyncSession | AsyncConnection


def libpq_url(url: str) -> str:
    """A plain ``postgresql://`` URL for psycopg / libpq (SQLAlchemy's has a driver suffix)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


async def driver_connection(executor: Executor) -> psycopg.AsyncConnection[Any]:
    """The psycopg connection to run a statement on: ``executor`` itself, or the one under a
    SQLAlchemy ``AsyncSession`` / ``AsyncConnection`` (in that session's transaction)."""
    if isinstance(executor, psycopg.AsyncConnection):
        return executor
    if isinstance(executor, AsyncConnection):
        connection = executor
    else:  # SQLAlchemy AsyncSession: its connection, starting its transaction if needed
        await executor.flush()  # what session.execute would autoflush (e.g. a new project row)
        connection = await executor.connection()
    raw = await connection.get_raw_connection()
    # SQLAlchemy types the driver's connection loosely (Any | None); our engine's is psycopg.
    return cast("psycopg.AsyncConnection[Any]", raw.driver_connection)


class WorkerConnection:
    """One autocommit connection that a worker loop reuses, one user at a time.

    A failure that leaves the connection unusable (the server restarted, the network dropped)
    closes it; the next ``use()`` connects again, so callers just retry.
    """

    def __init__(self, url: str, name: str) -> None:
        self.dsn = libpq_url(url)
        self.name = name
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def use(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        async with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = await psycopg.AsyncConnection.connect(
                    self.dsn, autocommit=True, application_name=f"titan-worker-{self.name}"
                )
            conn = self._conn
            try:
                yield conn
            except BaseException:
                if conn.broken or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    await self._discard()
                raise

    async def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):
                await conn.close()

    async def close(self) -> None:
        async with self._lock:
            await self._discard()
