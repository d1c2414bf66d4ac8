"""Engines and sessions. Titan's services talk to the database through async SQLAlchemy.

SQLAlchemy is imported when a ``Database`` first opens a session, not when this module is
imported: a worker that only runs plain jobs uses its own psycopg connections (``worker.db.raw``)
and starts without paying for SQLAlchemy's import.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cached_property
from typing import TYPE_CHECKING

from worker.config import Settings
from worker.db.embedded import embedded_url, to_sqlalchemy_url
from worker.db.raw import libpq_url

__all__ = ["Database", "database_url", "describe_url", "libpq_url", "make_engine"]

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker


def database_url(settings: Settings) -> str:
    """The SQLAlchemy URL to use: DATABASE_URL, or the embedded server (started if needed)."""
    if settings.database_url is not None:
        return to_sqlalchemy_url(settings.database_url.get_secret_value())
    return embedded_url(settings.titan_home)


def describe_url(url: str) -> str:
    """A URL safe to show a person: host and database, never the password."""
    from sqlalchemy import make_url

    parsed = make_url(url)
    host = parsed.host or parsed.query.get("host") or "local socket"
    return f"{host}/{parsed.database or ''}"


def make_engine(url: str, *, pool_size: int = 5) -> AsyncEngine:
    from sqlalchemy.ext.asyncio import create_async_engine

    return create_async_engine(
        url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True, pool_recycle=1800
    )


class Database:
    """An engine plus a session factory; one per process (or per test database).

    The engine is created on first use, so holding a ``Database`` costs nothing until a
    session is opened.
    """

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = url
        self.pool_size = pool_size

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: int) -> Database:
        return cls(database_url(settings), **kwargs)

    @cached_property
    def engine(self) -> AsyncEngine:
        return make_engine(self.url, pool_size=self.pool_size)

    @cached_property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        from sqlalchemy.ext.asyncio import async_sessionmaker

        return async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        if "engine" in self.__dict__:
            await self.engine.dispose()
