"""The ``workers`` table's one owner: who is alive, what they are told to do, how full the queue is.

Front ends (the desktop's supervisor and status bar, Jason, ``/health``) read and steer workers
through ``WorkerService``; the runner registers, beats and unregisters through the functions at
the bottom, on its own psycopg connection (its heartbeat shares a transaction with the lease
updates). A command (``pause``, ``resume``, ``stop``) is a value in ``workers.command`` that the
worker reads and clears on its next heartbeat, so the same call steers a worker on any host.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from worker.db.engine import Database
from worker.services.history import record_sample

COMMANDS = ("pause", "resume", "stop")
# A worker whose heartbeat is older than this is not counted as running (Jason's "pause").
LIVE_SECONDS = 30.0


@dataclass(frozen=True)
class WorkerInfo:
    """A row of ``workers`` as the status bar, Jason and ``/health`` show it."""

    id: str
    host: str
    pid: int
    status: str
    last_heartbeat: datetime
    jobs_succeeded: int
    jobs_failed: int
    # Seconds since the heartbeat by the database's clock, when the row was read.
    age_seconds: float = 0.0

    def heartbeat_age(self) -> float:
        """Seconds since the last heartbeat, by this machine's clock (ticks between reads)."""
        return max(0.0, (datetime.now(UTC) - self.last_heartbeat).total_seconds())


@dataclass(frozen=True)
class CurrentJob:
    """A job a worker holds right now."""

    id: int
    kind: str
    project_id: int | None
    started_at: datetime | None


@dataclass(frozen=True)
class WorkerDetail:
    """A row of ``workers`` as the Workers view and ``GET /api/workers`` show it."""

    id: str
    host: str
    pid: int
    version: str
    concurrency: int
    status: str
    started_at: datetime
    last_heartbeat: datetime
    stopped_at: datetime | None
    jobs_succeeded: int
    jobs_failed: int
    age_seconds: float  # since the heartbeat, by the database's clock when read
    current_jobs: tuple[CurrentJob, ...] = ()

    @property
    def processed(self) -> int:
        """Attempts this worker finished, succeeded or failed."""
        return self.jobs_succeeded + self.jobs_failed

    def heartbeat_age(self) -> float:
        """Seconds since the last heartbeat, by this machine's clock (ticks between reads)."""
        return max(0.0, (datetime.now(UTC) - self.last_heartbeat).total_seconds())


# Stopped workers stay listed this long, so a Stop is seen to have worked.
STOPPED_SHOWN_SECONDS = 3600.0

_COLUMNS = """id, host, pid, status, last_heartbeat, jobs_succeeded, jobs_failed,
              extract(epoch FROM now() - last_heartbeat)::float AS age_seconds"""


class WorkerService:
    """Workers and the queue they serve, for every front end."""

    def __init__(self, db: Database, settings: Any = None) -> None:
        self.db = db
        self.settings = settings

    async def live(self, fresh_seconds: float = 10.0) -> list[WorkerInfo]:
        """Running, paused or stopping workers with a heartbeat in the last ``fresh_seconds``
        (any host), freshest first."""
        async with self.db.session() as session:
            rows = (await session.execute(text(f"""
                SELECT {_COLUMNS} FROM workers
                WHERE status IN ('running', 'paused', 'stopping')
                  AND last_heartbeat > now() - make_interval(secs => :fresh)
                ORDER BY last_heartbeat DESC"""), {"fresh": fresh_seconds})).all()
        return [WorkerInfo(*row) for row in rows]

    async def not_stopped(self) -> list[WorkerInfo]:
        """Every worker not marked stopped, however old its heartbeat (``/health`` lists them
        so a dead one shows by its age), ordered by id."""
        async with self.db.session() as session:
            rows = (await session.execute(text(f"""
                SELECT {_COLUMNS} FROM workers WHERE status <> 'stopped' ORDER BY id"""))).all()
        return [WorkerInfo(*row) for row in rows]

    async def details(self, stopped_within: float = STOPPED_SHOWN_SECONDS
                      ) -> list[WorkerDetail]:
        """Every worker not stopped, plus those stopped in the last ``stopped_within``
        seconds, newest start first, each with the jobs it is running."""
        return await self._details(
            "status <> 'stopped' OR stopped_at > now() - make_interval(secs => :within)",
            {"within": stopped_within})

    async def detail(self, worker_id: str) -> WorkerDetail | None:
        """One worker (stopped or not) with its running jobs; None if there is no such id."""
        found = await self._details("id = :id", {"id": worker_id})
        return found[0] if found else None

    async def _details(self, where: str, params: dict[str, Any]) -> list[WorkerDetail]:
        async with self.db.session() as session:
            rows = (await session.execute(text(f"""
                SELECT id, host, pid, version, concurrency, status, started_at, last_heartbeat,
                       stopped_at, jobs_succeeded, jobs_failed,
                       extract(epoch FROM now() - last_heartbeat)::float AS age_seconds
                FROM workers WHERE {where}
                ORDER BY started_at DESC, id"""), params)).all()
            if not rows:
                return []
            # Running jobs only: the partial lease index holds exactly these rows.
            held = (await session.execute(text("""
                SELECT locked_by, id, kind, project_id, started_at FROM jobs
                WHERE status = 'running' AND locked_by = ANY(:ids)
                ORDER BY id"""), {"ids": [row[0] for row in rows]})).all()
        jobs: dict[str, list[CurrentJob]] = {}
        for locked_by, *job in held:
            jobs.setdefault(locked_by, []).append(CurrentJob(*job))
        return [WorkerDetail(**row._asdict(), current_jobs=tuple(jobs.get(row.id, ())))
                for row in rows]

    async def send(self, worker_id: str, command: str) -> bool:
        """Tell one worker to ``pause``, ``resume`` or ``stop``; False if no such worker."""
        _check(command)
        async with self.db.session() as session:
            result = await session.execute(
                text("UPDATE workers SET command = :c WHERE id = :id"),
                {"c": command, "id": worker_id})
        return bool(result.rowcount)  # type: ignore[attr-defined]  # an UPDATE/DELETE result is a CursorResult

    async def send_all(self, command: str, fresh_seconds: float = LIVE_SECONDS) -> int:
        """Tell every live worker (running or paused, fresh heartbeat) the same command;
        returns how many were told."""
        _check(command)
        async with self.db.session() as session:
            result = await session.execute(text("""
                UPDATE workers SET command = :command
                WHERE status IN ('running', 'paused')
                  AND last_heartbeat > now() - make_interval(secs => :fresh)"""),
                {"command": command, "fresh": fresh_seconds})
        return int(result.rowcount)  # type: ignore[attr-defined]  # an UPDATE/DELETE result is a CursorResult

    async def queue_counts(self) -> dict[str, int]:
        """Jobs per status (``queued``, ``running``, ...); statuses with no jobs are absent."""
        async with self.db.session() as session:
            rows = (await session.execute(text(
                "SELECT status, count(*) FROM jobs GROUP BY status"))).all()
        return {status: int(n) for status, n in rows}

    async def queue_by_kind(self) -> tuple[list[Any], list[Any]]:
        """Job counts by (kind, status), and run counts and total seconds by kind (what
        ``/health`` and ``/metrics`` report)."""
        async with self.db.session() as session:
            jobs = (await session.execute(text(
                "SELECT kind, status, count(*) AS n FROM jobs GROUP BY kind, status"))).all()
            durations = (await session.execute(text("""
                SELECT j.kind, count(*) AS n, coalesce(sum(r.duration_ms), 0) / 1000.0 AS seconds
                FROM runs r JOIN jobs j ON j.id = r.job_id
                WHERE r.duration_ms IS NOT NULL GROUP BY j.kind"""))).all()
        return list(jobs), list(durations)


def _check(command: str) -> None:
    if command not in COMMANDS:
        raise ValueError(f"{command!r} is not a worker command (one of: {', '.join(COMMANDS)})")


# -- the runner's side: a worker's own row, on its psycopg heartbeat connection ----------------

async def register(conn: Any, *, worker_id: str, host: str, pid: int, version: str,
                   concurrency: int) -> None:
    """Insert (or revive) this worker's row as running."""
    await conn.execute("""
        INSERT INTO workers (id, host, pid, version, concurrency, status)
        VALUES (%(id)s, %(host)s, %(pid)s, %(version)s, %(concurrency)s, 'running')
        ON CONFLICT (id) DO UPDATE SET status = 'running', last_heartbeat = now()
    """, {"id": worker_id, "host": host, "pid": pid, "version": version,
          "concurrency": concurrency})


async def unregister(conn: Any, *, worker_id: str, succeeded: int, failed: int) -> None:
    """Mark this worker stopped with its final counters."""
    await conn.execute("""
        UPDATE workers SET status = 'stopped', stopped_at = now(),
            last_heartbeat = now(), jobs_succeeded = %(ok)s, jobs_failed = %(failed)s
        WHERE id = %(id)s
    """, {"id": worker_id, "ok": succeeded, "failed": failed})


async def beat(conn: Any, *, worker_id: str, status: str, succeeded: int,
               failed: int) -> tuple[bool, str | None]:
    """One heartbeat inside the caller's transaction: (row exists, pending command).

    Reads the command under a row lock (the latest committed value), then clears it: clearing
    it in the same UPDATE could wipe a command committed meanwhile unseen."""
    cur = await conn.execute(
        "SELECT command FROM workers WHERE id = %(id)s FOR UPDATE", {"id": worker_id})
    row = await cur.fetchone()
    await conn.execute("""
        UPDATE workers SET last_heartbeat = now(), status = %(status)s,
            jobs_succeeded = %(ok)s, jobs_failed = %(failed)s, command = NULL
        WHERE id = %(id)s
    """, {"id": worker_id, "status": status, "ok": succeeded, "failed": failed})
    if row is None:
        return False, None
    await record_sample(conn)  # the History view's queue depth, once a minute
    return True, row[0]
