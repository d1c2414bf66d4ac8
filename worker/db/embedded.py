"""The embedded PostgreSQL (pgserver) a new user gets when DATABASE_URL is unset."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("titan.db")

_servers: dict[Path, object] = {}


def embedded_url(home: Path) -> str:
    """Start (or join) the PostgreSQL server under ``home/pgdata`` and return its SQLAlchemy URL.

    pgserver keeps one server per data folder, shared by every process that asks for it (the
    desktop, its worker, a CLI command) and stopped when the last of them exits.
    """
    import warnings

    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver  # deferred: importing it costs time and is unneeded with DATABASE_URL

    pgdata = (home / "pgdata").resolve()
    server = _servers.get(pgdata)
    if server is None:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pgserver.get_server(pgdata, cleanup_mode="stop")
        _servers[pgdata] = server
        log.debug("embedded PostgreSQL at %s", pgdata)
    return to_sqlalchemy_url(server.get_uri())  # type: ignore[attr-defined]


def to_sqlalchemy_url(url: str) -> str:
    """``postgresql://`` / ``postgres://`` -> ``postgresql+psycopg://`` (psycopg 3 driver)."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")
