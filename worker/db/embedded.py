"""The embedded PostgreSQL (pgserver) a new user gets when DATABASE_URL is unset."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psutil

log = logging.getLogger("titan.db")

_servers: dict[Path, Any] = {}  # pgserver.PostgresServer: pgserver ships no types


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
    return to_sqlalchemy_url(server.get_uri())


def embedded_server_alive(home: Path) -> bool:
    """Cheap (no database round trip): is the postmaster this process knows of still alive?
    True also when this process holds no embedded server (nothing to watch)."""
    server = _servers.get((home / "pgdata").resolve())
    info = getattr(server, "_postmaster_info", None)
    process = getattr(info, "process", None)
    if process is None:
        return server is None
    return _alive(process)


def restart_embedded_server(home: Path) -> int | None:
    """Blocking. If the embedded server under ``home`` died (a crash, an OOM kill), start it
    again in the same data folder (same socket: URLs stay valid) and return the new postmaster's
    pid; None if it was running or this process holds no handle on it.

    Every process with a handle (the desktop, its worker, a headless worker) watches; pgserver's
    lock makes one of them start it and the others find it running.
    """
    pgdata = (home / "pgdata").resolve()
    server = _servers.get(pgdata)
    if server is None or embedded_server_alive(home):
        return None
    with server._lock:
        # As at first start: run as root, PostgreSQL runs as its own user, which must still
        # reach the data folder (something may have tightened a parent's mode since).
        server.ensure_pgdata_inited()
        server.ensure_postgres_running()
    pid = server.get_pid()
    log.warning("embedded PostgreSQL at %s had stopped; it runs again (pid %s)", pgdata, pid)
    return int(pid) if pid else None


def _alive(process: psutil.Process) -> bool:
    import psutil

    try:
        return bool(process.is_running()
                    and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def to_sqlalchemy_url(url: str) -> str:
    """``postgresql://`` / ``postgres://`` -> ``postgresql+psycopg://`` (psycopg 3 driver)."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")
