"""Engines and sessions. Everything in Titan talks to the database through async SQLAlchemy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from worker.config import Settings
from worker.db.embedded import embedded_url, to_sqlalchemy_url


def database_url(settings: Settings) -> str:
    """The SQLAlchemy URL to use: DATABASE_URL, or the embedded server (started if needed)."""
    if settings.database_url is not None:
        return to_sqlalchemy_url(settings.database_url.get_secret_value())
    return embedded_url(settings.titan_home)


def libpq_url(url: str) -> str:
    """A plain ``postgresql://`` URL for psycopg / libpq (LISTEN connections, psql)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def describe_url(url: str) -> str:
    """A URL safe to show a person: host and database, never the password."""
    parsed: URL = make_url(url)
    host = parsed.host or parsed.query.get("host") or "local socket"
    return f"{host}/{parsed.database or ''}"


def make_engine(url: str, *, pool_size: int = 5) -> AsyncEngine:
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True, pool_recycle=1800
    )


class Database:
    """An engine plus a session factory; one per process (or per test database)."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: int) -> Database:
        return cls(database_url(settings), **kwargs)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
