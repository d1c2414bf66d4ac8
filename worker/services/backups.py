"""Backups of Titan's database: ``titan db backup|restore``, the daily backup, the settings panel.

A backup is a ``pg_dump`` custom-format archive. The embedded database is dumped with pgserver's
own binaries (the same PostgreSQL version as the server it runs); a ``DATABASE_URL`` server with
a ``pg_dump`` of its own major version or newer (``TITAN_PG_BIN``, then Debian's
``/usr/lib/postgresql/<N>/bin``, then ``PATH``). The password travels in ``PGPASSWORD``, never on
a command line.

Restore reads the archive's Alembic revision first (``pg_restore`` of the ``alembic_version``
data to stdout) and refuses a revision this Titan does not know (a newer Titan's schema) before
it touches the database. It then replaces the database's ``public`` schema with the archive's
in one psql transaction (the schema dropped, the archive's script replayed, COMMIT only once
pg_restore finished cleanly), so a restore that fails half way, or a cut-off archive, leaves the
database as it was. An older archive is migrated to this Titan's schema afterwards.

The daily backup (embedded database only): each worker checks at start and every few minutes;
under a PostgreSQL advisory lock, the first to find no backup of today's date in
``TITAN_HOME/backups`` makes one and prunes all but the newest ``TITAN_BACKUP_KEEP``. A failed
backup is logged as an error with ``event="backup.failed"`` (alerts key on it) and recorded in
``TITAN_HOME/backups/last-attempt.json`` for the settings panel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from worker.config import Settings
from worker.errors import Conflict, TitanError
from worker.logs import get_logger
from worker.paths import migrations_dir

log = get_logger("titan.backups")

BACKUP_FAILED = "backup.failed"  # the event name alerts look for in log_entries.extra
BACKUP_DONE = "backup.done"
# Automatic and "Back up now" files: titan-2026-12-07-093012.dump (local time, sortable).
_NAME = re.compile(r"^titan-(\d{4}-\d{2}-\d{2})-(\d{6})\.dump$")
_STAMP = "%Y-%m-%d-%H%M%S"
LAST_ATTEMPT = "last-attempt.json"
# The worker looks this often whether today's backup is due; after a failure it waits an hour
# before trying again, so a broken setup logs one error an hour, not one every check.
CHECK_SECONDS = 600.0
RETRY_AFTER_FAILURE = timedelta(hours=1)
# One daily backup at a time across every worker on this database.
_DAILY_LOCK = 7_425_019
# A worker with a heartbeat this fresh counts as running (restore refuses then).
_LIVE_SECONDS = 30.0
_REVISION = re.compile(r"""^revision\s*(?::\s*str\s*)?=\s*['"]([^'"]+)['"]""", re.M)


class BackupError(TitanError):
    """A backup or restore that could not be done; the message says why and what to do."""


class NewerSchema(BackupError):
    """The archive comes from a Titan whose schema this one does not know."""


@dataclass(frozen=True)
class BackupFile:
    path: Path
    size: int
    created: datetime  # local time, from the file's modification time

    @classmethod
    def of(cls, path: Path) -> BackupFile:
        """The file as it is on disk now (size, modification time)."""
        stat = path.stat()
        return cls(path, stat.st_size, datetime.fromtimestamp(stat.st_mtime).astimezone())


@dataclass(frozen=True)
class BackupStatus:
    """What the settings panel shows: the newest backup and the last attempt's outcome."""

    folder: Path
    keep: int
    enabled: bool
    embedded: bool
    latest: BackupFile | None
    kept: tuple[BackupFile, ...]  # newest first
    failed_at: datetime | None = None  # the last attempt failed (and none succeeded since)
    error: str | None = None


@dataclass(frozen=True)
class PgTools:
    """The client programs for one database: pg_dump, pg_restore and psql from one folder."""

    bin_dir: Path

    def path(self, name: str) -> str:
        """The program ``name`` in this folder; BackupError when it is not there."""
        exe = self.bin_dir / (name + (".exe" if os.name == "nt" else ""))
        if not exe.exists():
            raise BackupError(f"{name} is missing from {self.bin_dir}")
        return str(exe)


# -- where things are --------------------------------------------------------------------------

def backups_dir(settings: Settings) -> Path:
    """Where the daily and "Back up now" backups go: ``TITAN_HOME/backups``."""
    return settings.titan_home / "backups"


def list_backups(folder: Path) -> list[BackupFile]:
    """Titan's own backups in ``folder`` (by name, not anything else there), newest first."""
    if not folder.is_dir():
        return []
    found = [BackupFile.of(p) for p in folder.iterdir() if _NAME.match(p.name) and p.is_file()]
    return sorted(found, key=lambda b: b.path.name, reverse=True)


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups; returns what was deleted."""
    removed = []
    for old in list_backups(folder)[max(keep, 1):]:
        with contextlib.suppress(FileNotFoundError):
            old.path.unlink()
            removed.append(old.path)
    return removed


def new_backup_path(folder: Path, now: datetime | None = None) -> Path:
    """A backup's file name for this moment (local time): ``titan-YYYY-MM-DD-HHMMSS.dump``."""
    return folder / f"titan-{(now or datetime.now()).strftime(_STAMP)}.dump"


def known_revisions() -> set[str]:
    """Every Alembic revision this Titan ships (read from migrations/versions)."""
    found = set()
    for path in migrations_dir().joinpath("versions").glob("*.py"):
        match = _REVISION.search(path.read_text(encoding="utf-8"))
        if match:
            found.add(match.group(1))
    return found


def find_tools(settings: Settings, url: str) -> PgTools:
    """Blocking. pgserver's binaries for the embedded database; for a server, a client of the
    server's major version or newer (pg_dump refuses a newer server)."""
    if settings.pg_bin_dir is not None:
        return PgTools(settings.pg_bin_dir)
    if settings.embedded:
        return PgTools(_pgserver_bin())
    major = _server_major(url)
    candidates = []
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        for folder in debian.iterdir():
            if folder.name.isdigit() and (folder / "bin" / "pg_dump").exists():
                candidates.append((int(folder.name), folder / "bin"))
    on_path = shutil.which("pg_dump")
    if on_path:
        version = _client_major(on_path)
        if version is not None:
            candidates.append((version, Path(on_path).resolve().parent))
    usable = sorted((v, d) for v, d in candidates if v >= major)
    if not usable:
        have = ", ".join(f"{v} ({d})" for v, d in sorted(candidates)) or "none"
        raise BackupError(
            f"no pg_dump for PostgreSQL {major} or newer (found: {have}); install the server's "
            f"client (Debian: apt-get install postgresql-client-{major}) or point TITAN_PG_BIN "
            "at its bin folder")
    # The server's own version when there, else the oldest newer one.
    exact = [d for v, d in usable if v == major]
    return PgTools(exact[0] if exact else usable[0][1])


def _pgserver_bin() -> Path:
    import pgserver  # the embedded server's package ships its PostgreSQL installation

    folder = Path(pgserver.__file__).resolve().parent / "pginstall" / "bin"
    if not folder.is_dir():
        raise BackupError(f"pgserver's PostgreSQL binaries are missing (looked in {folder})")
    return folder


def _server_major(url: str) -> int:
    import psycopg

    from worker.db.raw import libpq_url

    with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=10) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    return int(row[0]) // 10000 if row else 0


def _client_major(exe: str) -> int | None:
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    match = re.search(r"(\d+)(?:\.\d+)?", out.stdout)
    return int(match.group(1)) if match else None


# -- connection without the password on a command line ---------------------------------------

def _connection(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and the environment carrying it."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from worker.db.raw import libpq_url

    params = conninfo_to_dict(libpq_url(url))
    password = params.pop("password", None)
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    env.pop("PGPASSWORD", None)
    if password:
        env["PGPASSWORD"] = str(password)
    return make_conninfo("", **params), env


def _failure(what: str, stderr: str, secrets: list[str]) -> BackupError:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    detail = " | ".join(lines[-3:]) if lines else "no output"
    for secret in secrets:
        detail = detail.replace(secret, "***")
    return BackupError(f"{what} failed: {detail}")


def _secrets(env: dict[str, str]) -> list[str]:
    password = env.get("PGPASSWORD")
    return [password] if password else []


# -- backup ------------------------------------------------------------------------------------

def dump(url: str, target: Path, tools: PgTools) -> BackupFile:
    """Blocking: ``pg_dump -Fc`` into ``target``, through a temporary file beside it, so an
    interrupted backup never looks like a finished one."""
    target = target.expanduser().absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    dsn, env = _connection(url)
    fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial",
                                   dir=target.parent)
    os.close(fd)
    try:
        done = subprocess.run([tools.path("pg_dump"), "--format=custom", "--file", partial,
                               "--dbname", dsn], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise _failure("pg_dump", done.stderr, _secrets(env))
        os.replace(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
    return BackupFile.of(target)


def archive_revision(file: Path, tools: PgTools) -> str:
    """The Alembic revision recorded in an archive (its ``alembic_version`` row)."""
    if not file.is_file():
        raise BackupError(f"{file}: no such file")
    done = subprocess.run([tools.path("pg_restore"), "--data-only", "--table=alembic_version",
                           "--file=-", str(file)], capture_output=True, text=True)
    if done.returncode != 0:
        raise _failure(f"reading {file} (is it a backup made by titan db backup?)",
                       done.stderr, [])
    lines = done.stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("COPY ") and "alembic_version" in line and i + 1 < len(lines):
            value = lines[i + 1].strip()
            if value and value != "\\.":
                return value
    raise BackupError(f"{file} holds no Titan schema revision (no alembic_version row): "
                      "it is not a Titan backup")


def check_restorable(file: Path, tools: PgTools) -> str:
    """The archive's revision, or NewerSchema when this Titan does not know it."""
    revision = archive_revision(file, tools)
    known = known_revisions()
    if revision not in known:
        from worker import __version__
        from worker.db.migrate import head_revision

        raise NewerSchema(
            f"{file} comes from a newer Titan: its database schema is revision {revision}, "
            f"and this Titan ({__version__}) knows revisions up to {head_revision()}. Upgrade "
            "Titan, then restore; nothing was changed.")
    return revision


# -- restore -----------------------------------------------------------------------------------

# Everything in ``public`` goes: the archive brings every table, sequence and extension back,
# and nothing from a newer schema is left over for the migrations to trip on.
_PREAMBLE = b"""\
BEGIN;
DROP SCHEMA IF EXISTS public CASCADE;
CREATE SCHEMA public;
"""


def restore(url: str, file: Path, tools: PgTools) -> str:
    """Blocking. Replace the database's contents by the archive's, in one transaction, then
    migrate it to this Titan's schema. Returns the archive's revision. Callers check for
    running workers first (``running_workers``).

    pg_restore writes the archive as SQL; psql runs it after the preamble. COMMIT is sent only
    once pg_restore has finished without error: a corrupt or cut-off archive ends the input
    without it, and psql's transaction is rolled back when it disconnects."""
    revision = check_restorable(file, tools)
    dsn, env = _connection(url)
    with tempfile.TemporaryFile() as restore_err, tempfile.TemporaryFile() as psql_err:
        script = subprocess.Popen(
            [tools.path("pg_restore"), "--no-owner", "--no-privileges", "--file=-", str(file)],
            stdout=subprocess.PIPE, stderr=restore_err)
        psql = subprocess.Popen(
            [tools.path("psql"), "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1",
             "--file", "-", "--dbname", dsn],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=psql_err, env=env)
        assert script.stdout is not None and psql.stdin is not None
        try:
            psql.stdin.write(_PREAMBLE)
            shutil.copyfileobj(script.stdout, psql.stdin, 1 << 20)
            if script.wait() == 0:
                psql.stdin.write(b"COMMIT;\n")
            psql.stdin.close()
        except BrokenPipeError:  # psql stopped at an error: its message says which
            pass
        finally:
            script.stdout.close()
            if script.poll() is None:
                script.kill()
            script.wait()
            with contextlib.suppress(BrokenPipeError):
                psql.stdin.close()
            psql.wait()
        psql_err.seek(0)
        restore_err.seek(0)
        psql_message = psql_err.read().decode(errors="replace")
        restore_message = restore_err.read().decode(errors="replace")
    if psql.returncode != 0:
        raise _failure("restore (the database was not changed)", psql_message, _secrets(env))
    if script.returncode != 0:
        raise _failure("pg_restore (the database was not changed)", restore_message, [])
    from worker.db.migrate import upgrade

    upgrade(url)  # an older archive: bring it to this Titan's schema
    return revision


def running_workers(url: str) -> list[str]:
    """Blocking: workers with a fresh heartbeat on this database, as ``host pid N``."""
    import psycopg

    from worker.db.raw import libpq_url

    with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT to_regclass('workers') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return []
        rows = conn.execute(
            "SELECT host, pid FROM workers WHERE status IN ('running', 'paused', 'stopping') "
            "AND last_heartbeat > now() - make_interval(secs => %s) ORDER BY id",
            (_LIVE_SECONDS,)).fetchall()
    return [f"{host} pid {pid}" for host, pid in rows]


# -- what front ends call ----------------------------------------------------------------------

def _url(settings: Settings) -> str:
    from worker.db.engine import database_url

    return database_url(settings)


async def back_up(settings: Settings, target: Path | None = None, *, url: str | None = None
                  ) -> BackupFile:
    """Back up the configured database to ``target`` (default: a new file in
    ``TITAN_HOME/backups``, after which old ones are pruned to ``TITAN_BACKUP_KEEP``).
    Runs pg_dump in a thread: the caller's event loop (the desktop's UI) keeps running."""
    return await asyncio.to_thread(back_up_blocking, settings, target, url=url)


def back_up_blocking(settings: Settings, target: Path | None = None, *, url: str | None = None
                     ) -> BackupFile:
    """``back_up`` for callers without an event loop (the CLI). A failure is logged
    (``backup.failed``); into the backups folder it is also recorded for the settings page."""
    folder = backups_dir(settings)
    into_folder = target is None
    try:
        url = url or _url(settings)
        made = dump(url, target or new_backup_path(folder), find_tools(settings, url))
    except Exception as exc:
        if into_folder:
            _record_failure(folder, exc)
        log.error(f"backup failed: {exc}", event=BACKUP_FAILED, error=str(exc))
        raise exc if isinstance(exc, BackupError) else BackupError(str(exc)) from exc
    if into_folder:
        _record_success(folder)
        prune(folder, settings.backup_keep)
    log.info(f"backed up the database to {made.path}", event=BACKUP_DONE,
             file=str(made.path), size=made.size)
    return made


def restore_blocking(settings: Settings, file: Path, *, force: bool = False) -> str:
    """``titan db restore``: refuses while workers run (unless ``force``) and refuses a newer
    schema; both before anything changes. Returns the archive's revision."""
    url = _url(settings)
    tools = find_tools(settings, url)
    check_restorable(file, tools)
    busy = running_workers(url)
    if busy and not force:
        raise Conflict(
            f"{len(busy)} worker(s) are running on this database ({', '.join(busy)}): stop "
            "them first (close the Titan desktop app, stop `titan worker`), or pass --force. "
            "Nothing was changed.")
    return restore(url, file, tools)


def status(settings: Settings) -> BackupStatus:
    """Blocking but cheap (a folder listing): what the settings panel shows."""
    folder = backups_dir(settings)
    found = list_backups(folder)
    failed_at, error = _last_failure(folder, found[0] if found else None)
    return BackupStatus(folder=folder, keep=settings.backup_keep, enabled=settings.backup,
                        embedded=settings.embedded, latest=found[0] if found else None,
                        kept=tuple(found), failed_at=failed_at, error=error)


async def backup_status(settings: Settings) -> BackupStatus:
    """``status`` in a thread, for the desktop's event loop."""
    return await asyncio.to_thread(status, settings)


# -- the daily backup --------------------------------------------------------------------------

def due(folder: Path, now: datetime | None = None) -> bool:
    """No backup of today's (local) date yet, and no failed attempt in the last hour."""
    now = now or datetime.now()
    today = now.strftime("%Y-%m-%d")
    if any(_NAME.match(b.path.name).group(1) == today  # type: ignore[union-attr]  # the glob matches _NAME
           for b in list_backups(folder)):
        return False
    failed_at, _ = _last_failure(folder, None)
    return not (failed_at and now.astimezone() - failed_at < RETRY_AFTER_FAILURE)


async def daily_backup(settings: Settings, url: str) -> BackupFile | None:
    """Make today's backup when it is due and no other worker is making it; None otherwise.
    Failures are logged (``backup.failed``) and recorded, never raised: the worker goes on."""
    import psycopg

    from worker.db.raw import libpq_url

    folder = backups_dir(settings)
    if not settings.backup or not settings.embedded or not due(folder):
        return None
    async with await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True) as conn:
        row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)",
                                        (_DAILY_LOCK,))).fetchone()
        if not (row and row[0]):
            return None  # another worker is making it right now
        try:
            if not due(folder):  # made while we waited for the lock
                return None
            with contextlib.suppress(BackupError):
                return await back_up(settings, url=url)
            return None
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_DAILY_LOCK,))


# -- the last attempt, for the panel and the retry delay ---------------------------------------

def _record_failure(folder: Path, exc: BaseException) -> None:
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        data = {"at": datetime.now().astimezone().isoformat(), "ok": False, "error": str(exc)}
        (folder / LAST_ATTEMPT).write_text(json.dumps(data), encoding="utf-8")


def _record_success(folder: Path) -> None:
    with contextlib.suppress(OSError):
        (folder / LAST_ATTEMPT).unlink(missing_ok=True)


def _last_failure(folder: Path, latest: BackupFile | None
                  ) -> tuple[datetime | None, str | None]:
    try:
        data: dict[str, Any] = json.loads((folder / LAST_ATTEMPT).read_text(encoding="utf-8"))
        at = datetime.fromisoformat(str(data["at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None, None
    if data.get("ok") or (latest is not None and latest.created >= at):
        return None, None
    return at, str(data.get("error") or "unknown error")
