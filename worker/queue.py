"""The PostgreSQL job queue: enqueue, claim, complete, fail, reclaim, release, cancel.

Every function takes a psycopg ``AsyncConnection`` or a SQLAlchemy session/connection, and runs
in that connection's transaction (so a service can create a project and enqueue its first job
atomically) or, on a worker's autocommit connection, as one self-contained statement. The
statements are plain psycopg SQL: the worker's hot path never imports SQLAlchemy. Triggers on
``jobs`` send the NOTIFYs (``titan_jobs`` to wake workers, ``titan_events`` for the GUI).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg.rows import namedtuple_row

from worker.db.raw import Executor, driver_connection
from worker.retry import RetryPolicy

LIVE_STATUSES = ("queued", "running")


@dataclass
class NewJob:
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    project_id: int | None = None
    ops_change_id: int | None = None
    priority: int = 0
    delay_seconds: float = 0.0
    run_at: datetime | None = None
    max_attempts: int = 3
    # At most one queued/running job per key: enqueueing a duplicate is a no-op.
    dedupe_key: str | None = None


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    run_id: int
    kind: str
    payload: dict[str, Any]
    project_id: int | None
    ops_change_id: int | None
    attempts: int
    max_attempts: int
    priority: int


_ENQUEUE = """
    INSERT INTO jobs (kind, payload, project_id, ops_change_id, priority, max_attempts,
                      dedupe_key, run_at)
    VALUES (%(kind)s, %(payload)s::jsonb, %(project_id)s, %(ops_change_id)s, %(priority)s,
            %(max_attempts)s, %(dedupe_key)s,
            COALESCE(%(run_at)s::timestamptz, now() + make_interval(secs => %(delay)s)))
    ON CONFLICT (dedupe_key) WHERE status IN ('queued', 'running') AND dedupe_key IS NOT NULL
    DO NOTHING
    RETURNING id
"""


async def enqueue(conn: Executor, job: NewJob) -> int | None:
    """Insert one job; returns its id, or None when a live job has the same dedupe key."""
    cur = await (await driver_connection(conn)).execute(_ENQUEUE, _job_params(job))
    row = await cur.fetchone()
    return row[0] if row else None


def _job_params(job: NewJob) -> dict[str, Any]:
    return {
        "kind": job.kind, "payload": json.dumps(job.payload), "project_id": job.project_id,
        "ops_change_id": job.ops_change_id, "priority": job.priority,
        "max_attempts": job.max_attempts, "dedupe_key": job.dedupe_key, "run_at": job.run_at,
        "delay": float(job.delay_seconds),
    }


_ENQUEUE_MANY = """
    INSERT INTO jobs (kind, payload, priority, max_attempts)
    SELECT kind, CAST(payload AS jsonb), priority, %(max_attempts)s
    FROM unnest(%(kinds)s::text[], %(payloads)s::text[], %(priorities)s::int[])
         AS u(kind, payload, priority)
"""


async def enqueue_many(
    conn: Executor, kind: str, payloads: list[dict[str, Any]], *, priority: int = 0,
    max_attempts: int = 3,
) -> int:
    """Bulk insert of plain jobs (no dedupe key) in one statement; returns how many."""
    await (await driver_connection(conn)).execute(_ENQUEUE_MANY, {
        "kinds": [kind] * len(payloads), "payloads": [json.dumps(p) for p in payloads],
        "priorities": [priority] * len(payloads), "max_attempts": max_attempts,
    })
    return len(payloads)


# One statement: pick due jobs without waiting on rows another worker holds, mark them running
# under this worker's lease, and open a run row for the attempt. The run ids are drawn in the
# UPDATE itself, so no join is needed to pair runs with jobs: a join's plan depends on row
# estimates, and stale ones (a queue table emptied and refilled) made it quadratic.
_CLAIM = """
    WITH picked AS (
        SELECT id FROM jobs
        WHERE status = 'queued' AND run_at <= now()
        ORDER BY priority DESC, run_at, id
        LIMIT %(batch)s
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE jobs AS j
        SET status = 'running', attempts = j.attempts + 1, locked_by = %(worker)s,
            locked_until = now() + make_interval(secs => %(lease)s),
            started_at = now(), updated_at = now()
        FROM picked WHERE j.id = picked.id
        RETURNING j.id, j.kind, j.payload::text AS payload, j.project_id, j.ops_change_id,
                  j.attempts, j.max_attempts, j.priority, nextval('runs_id_seq') AS run_id
    ), opened AS (
        INSERT INTO runs (id, job_id, worker_id, attempt)
        SELECT run_id, id, %(worker)s, attempts FROM claimed
    )
    SELECT * FROM claimed ORDER BY priority DESC, id
"""


async def claim(conn: Executor, worker_id: str, *, batch: int, lease_seconds: float
                ) -> list[ClaimedJob]:
    """Take up to ``batch`` due jobs for this worker under a lease and open a run for each;
    highest priority first. Jobs other workers hold are skipped, never waited for."""
    cur = await (await driver_connection(conn)).execute(
        _CLAIM, {"batch": batch, "worker": worker_id, "lease": float(lease_seconds)}
    )
    # Positional rows: this runs for every batch, and a row factory costs more than it says.
    return [
        ClaimedJob(id=r[0], kind=r[1], payload=_payload(r[2]), project_id=r[3],
                   ops_change_id=r[4], attempts=r[5], max_attempts=r[6], priority=r[7],
                   run_id=r[8])
        for r in await cur.fetchall()
    ]


def _payload(text: str) -> dict[str, Any]:
    return {} if text == "{}" else json.loads(text)  # most bulk jobs carry no payload


# One statement per batch: mark the runs succeeded, then their jobs (lock order everywhere is
# runs, then jobs, so completion and reclaim cannot deadlock). Never prepared: a generic plan
# cannot see how many ids the arrays hold and picks a slower join. The arrays go in binary:
# the text format runs a regular expression per element.
_COMPLETE = """
    WITH finished AS (
        UPDATE runs AS r
        SET status = 'succeeded', finished_at = now(), duration_ms = u.duration_ms
        FROM unnest(%(run_ids)b::bigint[], %(durations)b::float8[]) AS u(run_id, duration_ms)
        WHERE r.id = ANY(%(run_ids)b::bigint[])  -- the primary key finds them, whatever the
          AND r.id = u.run_id AND r.status = 'running'  -- statistics say about runs
        RETURNING r.job_id
    )
    UPDATE jobs
    SET status = 'succeeded', locked_by = NULL, locked_until = NULL, last_error = NULL,
        finished_at = now(), updated_at = now()
    WHERE id = ANY(ARRAY(SELECT job_id FROM finished)) AND status = 'running'
    RETURNING id
"""


async def complete_many(
    conn: Executor, finished: list[tuple[int, float]], followups: dict[int, list[NewJob]]
) -> set[int]:
    """Mark runs (run_id, duration_ms) succeeded and their jobs done; enqueue follow-ups.

    Returns the ids of jobs this call completed. A run whose lease was lost (reclaimed) or whose
    job was cancelled meanwhile completes nothing and enqueues none of its follow-ups.
    """
    if not finished:
        return set()
    raw = await driver_connection(conn)
    params = {"run_ids": [run_id for run_id, _ in finished],
              "durations": [duration for _, duration in finished]}
    # Follow-ups exist only if their job completed: then both commit together. Without any,
    # the statement alone is atomic and needs no BEGIN/COMMIT round trips.
    atomic = raw.transaction() if any(followups.values()) else contextlib.nullcontext()
    async with atomic:
        cur = await raw.execute(_COMPLETE, params, prepare=False)
        done = {row[0] for row in await cur.fetchall()}
        for job_id in done:
            for job in followups.get(job_id, ()):
                await enqueue(raw, job)
    return done


_FAIL = """
    WITH owned AS (
        UPDATE runs SET status = 'failed', error = %(error)s, finished_at = now(),
                        duration_ms = %(duration)s
        WHERE id = %(run_id)s AND status = 'running'
        RETURNING job_id
    )
    UPDATE jobs
    SET status = CASE WHEN %(permanent)s OR attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
        run_at = now() + make_interval(secs => %(delay)s),
        last_error = %(error)s, locked_by = NULL, locked_until = NULL, updated_at = now(),
        finished_at = CASE WHEN %(permanent)s OR attempts >= max_attempts THEN now() END
    WHERE id = %(job_id)s AND status = 'running' AND id IN (SELECT job_id FROM owned)
    RETURNING status
"""


async def fail(
    conn: Executor, job: ClaimedJob, error: str, *, policy: RetryPolicy, duration_ms: float = 0.0,
    permanent: bool = False,
) -> str | None:
    """Record a failed attempt. Returns the job's new status ('queued' to retry, or 'dead'),
    or None when the attempt no longer owned the job (lease lost or cancelled)."""
    cur = await (await driver_connection(conn)).execute(_FAIL, {
        "run_id": job.run_id, "job_id": job.id, "error": error, "duration": duration_ms,
        "permanent": permanent, "delay": policy.delay(job.attempts),
    })
    row = await cur.fetchone()
    return row[0] if row else None


_RECLAIM = """
    WITH lost AS (
        UPDATE runs AS r
        SET status = 'lost', finished_at = now(),
            error = 'lease expired: worker ' || r.worker_id || ' stopped heartbeating'
        FROM jobs AS j
        WHERE r.job_id = j.id AND r.status = 'running'
          AND j.status = 'running' AND j.locked_until < now()
        RETURNING r.job_id, r.worker_id
    )
    UPDATE jobs AS j
    SET status = CASE WHEN j.attempts >= j.max_attempts THEN 'dead' ELSE 'queued' END,
        last_error = 'lease expired: worker ' || lost.worker_id || ' stopped heartbeating',
        locked_by = NULL, locked_until = NULL, run_at = now(), updated_at = now(),
        finished_at = CASE WHEN j.attempts >= j.max_attempts THEN now() END
    FROM lost
    WHERE j.id = lost.job_id AND j.status = 'running' AND j.locked_until < now()
    RETURNING j.id, j.kind, j.status, j.project_id, j.last_error
"""


async def reclaim_expired(conn: Executor) -> list[Any]:
    """Requeue (or bury) running jobs whose lease expired; returns (id, kind, status, ...)."""
    raw = await driver_connection(conn)
    async with raw.cursor(row_factory=namedtuple_row) as cur:
        await cur.execute(_RECLAIM)
        return await cur.fetchall()


_EXTEND = """
    UPDATE jobs SET locked_until = now() + make_interval(secs => %(lease)s)
    WHERE locked_by = %(worker)s AND status = 'running' AND id = ANY(%(ids)s::bigint[])
"""


async def extend_leases(conn: Executor, worker_id: str, job_ids: list[int], lease_seconds: float
                        ) -> None:
    """Push the leases of this worker's running jobs ``lease_seconds`` into the future, so
    ``reclaim_expired`` leaves them alone; jobs it no longer holds are skipped."""
    if job_ids:
        await (await driver_connection(conn)).execute(
            _EXTEND, {"worker": worker_id, "ids": job_ids, "lease": float(lease_seconds)})


_RELEASE = """
    WITH released AS (
        UPDATE runs SET status = 'released', finished_at = now(),
                        error = 'released: worker shut down before the job finished'
        WHERE id = ANY(%(run_ids)s::bigint[]) AND status = 'running'
        RETURNING job_id
    )
    UPDATE jobs
    SET status = 'queued', attempts = greatest(attempts - 1, 0), locked_by = NULL,
        locked_until = NULL, run_at = now(), updated_at = now()
    WHERE id = ANY(ARRAY(SELECT job_id FROM released)) AND status = 'running'
"""


async def release(conn: Executor, run_ids: list[int]) -> None:
    """Give jobs back to the queue without counting the interrupted attempt."""
    if run_ids:
        await (await driver_connection(conn)).execute(_RELEASE, {"run_ids": run_ids})


async def cancel(conn: Executor, *, job_ids: list[int] | None = None,
                 project_id: int | None = None) -> int:
    """Cancel live jobs by id or by project; a running one stops counting (its result is
    discarded). Returns how many were cancelled."""
    cur = await (await driver_connection(conn)).execute("""
        UPDATE jobs SET status = 'cancelled', locked_by = NULL, locked_until = NULL,
                        finished_at = now(), updated_at = now()
        WHERE status IN ('queued', 'running')
          AND (id = ANY(%(ids)s::bigint[]) OR project_id = %(project_id)s)
    """, {"ids": job_ids or [], "project_id": project_id})
    return cur.rowcount


async def retry_job(conn: Executor, job_id: int) -> bool:
    """Put a failed/dead/cancelled job back in the queue with fresh attempts."""
    cur = await (await driver_connection(conn)).execute("""
        UPDATE jobs SET status = 'queued', attempts = 0, run_at = now(), last_error = NULL,
                        finished_at = NULL, updated_at = now()
        WHERE id = %(id)s AND status IN ('failed', 'dead', 'cancelled')
    """, {"id": job_id})
    return cur.rowcount == 1


async def counts_by_status(conn: Executor) -> dict[str, int]:
    """How many jobs are in each status (statuses with no job are absent)."""
    cur = await (await driver_connection(conn)).execute(
        "SELECT status, count(*) FROM jobs GROUP BY status")
    return {status: n for status, n in await cur.fetchall()}


async def has_pending(conn: Executor) -> bool:
    """True while any job is queued (even for later) or running."""
    cur = await (await driver_connection(conn)).execute(
        "SELECT EXISTS (SELECT 1 FROM jobs WHERE status IN ('queued', 'running'))")
    row = await cur.fetchone()
    return bool(row and row[0])
