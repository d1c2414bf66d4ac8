"""The PostgreSQL job queue: enqueue, claim, complete, fail, reclaim, release, cancel.

Every function takes an ``AsyncConnection`` (or session) and runs in the caller's transaction, so
a service can create a project and enqueue its first job atomically. Triggers on ``jobs`` send the
NOTIFYs (``titan_jobs`` to wake workers, ``titan_events`` for the GUI), whoever writes the row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from worker.retry import RetryPolicy

Executor = AsyncConnection | AsyncSession
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


_ENQUEUE = text("""
    INSERT INTO jobs (kind, payload, project_id, ops_change_id, priority, max_attempts,
                      dedupe_key, run_at)
    VALUES (:kind, CAST(:payload AS jsonb), :project_id, :ops_change_id, :priority,
            :max_attempts, :dedupe_key,
            COALESCE(:run_at, now() + make_interval(secs => :delay)))
    ON CONFLICT (dedupe_key) WHERE status IN ('queued', 'running') DO NOTHING
    RETURNING id
""")


async def enqueue(conn: Executor, job: NewJob) -> int | None:
    """Insert one job; returns its id, or None when a live job has the same dedupe key."""
    result = await conn.execute(_ENQUEUE, _job_params(job))
    return result.scalar_one_or_none()


def _job_params(job: NewJob) -> dict[str, Any]:
    return {
        "kind": job.kind, "payload": json.dumps(job.payload), "project_id": job.project_id,
        "ops_change_id": job.ops_change_id, "priority": job.priority,
        "max_attempts": job.max_attempts, "dedupe_key": job.dedupe_key, "run_at": job.run_at,
        "delay": float(job.delay_seconds),
    }


_ENQUEUE_MANY = text("""
    INSERT INTO jobs (kind, payload, priority, max_attempts)
    SELECT kind, CAST(payload AS jsonb), priority, :max_attempts
    FROM unnest(CAST(:kinds AS text[]), CAST(:payloads AS text[]), CAST(:priorities AS int[]))
         AS u(kind, payload, priority)
""")


async def enqueue_many(
    conn: Executor, kind: str, payloads: list[dict[str, Any]], *, priority: int = 0,
    max_attempts: int = 3,
) -> int:
    """Bulk insert of plain jobs (no dedupe key) in one statement; returns how many."""
    await conn.execute(_ENQUEUE_MANY, {
        "kinds": [kind] * len(payloads), "payloads": [json.dumps(p) for p in payloads],
        "priorities": [priority] * len(payloads), "max_attempts": max_attempts,
    })
    return len(payloads)


# One statement: pick due jobs without waiting on rows another worker holds, mark them running
# under this worker's lease, and open a run row for the attempt.
_CLAIM = text("""
    WITH picked AS (
        SELECT id FROM jobs
        WHERE status = 'queued' AND run_at <= now()
        ORDER BY priority DESC, run_at, id
        LIMIT :batch
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE jobs AS j
        SET status = 'running', attempts = j.attempts + 1, locked_by = :worker,
            locked_until = now() + make_interval(secs => :lease),
            started_at = now(), updated_at = now()
        FROM picked WHERE j.id = picked.id
        RETURNING j.id, j.kind, j.payload, j.project_id, j.ops_change_id, j.attempts,
                  j.max_attempts, j.priority
    ), opened AS (
        INSERT INTO runs (job_id, worker_id, attempt)
        SELECT id, :worker, attempts FROM claimed
        RETURNING id AS run_id, job_id
    )
    SELECT claimed.*, opened.run_id FROM claimed JOIN opened ON opened.job_id = claimed.id
    ORDER BY claimed.priority DESC, claimed.id
""")


async def claim(conn: Executor, worker_id: str, *, batch: int, lease_seconds: float
                ) -> list[ClaimedJob]:
    rows = await conn.execute(
        _CLAIM, {"batch": batch, "worker": worker_id, "lease": float(lease_seconds)}
    )
    return [
        ClaimedJob(
            id=r.id, run_id=r.run_id, kind=r.kind, payload=r.payload, project_id=r.project_id,
            ops_change_id=r.ops_change_id, attempts=r.attempts, max_attempts=r.max_attempts,
            priority=r.priority,
        )
        for r in rows
    ]


# Lock order everywhere is runs, then jobs, so completion and reclaim cannot deadlock.
_FINISH_RUNS = text("""
    UPDATE runs AS r
    SET status = 'succeeded', finished_at = now(), duration_ms = u.duration_ms
    FROM unnest(CAST(:run_ids AS bigint[]), CAST(:durations AS float8[])) AS u(run_id, duration_ms)
    WHERE r.id = u.run_id AND r.status = 'running'
    RETURNING r.job_id
""")
_FINISH_JOBS = text("""
    UPDATE jobs
    SET status = 'succeeded', locked_by = NULL, locked_until = NULL, last_error = NULL,
        finished_at = now(), updated_at = now()
    WHERE id = ANY(CAST(:job_ids AS bigint[])) AND status = 'running'
    RETURNING id
""")


async def complete_many(
    conn: Executor, finished: list[tuple[int, float]], followups: dict[int, list[NewJob]]
) -> set[int]:
    """Mark runs (run_id, duration_ms) succeeded and their jobs done; enqueue follow-ups.

    Returns the ids of jobs this call completed. A run whose lease was lost (reclaimed) or whose
    job was cancelled meanwhile completes nothing and enqueues none of its follow-ups.
    """
    if not finished:
        return set()
    run_ids = [run_id for run_id, _ in finished]
    job_rows = await conn.execute(
        _FINISH_RUNS, {"run_ids": run_ids, "durations": [d for _, d in finished]}
    )
    job_ids = [row.job_id for row in job_rows]
    if not job_ids:
        return set()
    done = {row.id for row in await conn.execute(_FINISH_JOBS, {"job_ids": job_ids})}
    for job_id in done:
        for job in followups.get(job_id, ()):
            await enqueue(conn, job)
    return done


_FAIL_RUN = text("""
    UPDATE runs SET status = 'failed', error = :error, finished_at = now(),
                    duration_ms = :duration
    WHERE id = :run_id AND status = 'running'
    RETURNING job_id
""")
_FAIL_JOB = text("""
    UPDATE jobs
    SET status = CASE WHEN :permanent OR attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
        run_at = now() + make_interval(secs => :delay),
        last_error = :error, locked_by = NULL, locked_until = NULL, updated_at = now(),
        finished_at = CASE WHEN :permanent OR attempts >= max_attempts THEN now() END
    WHERE id = :job_id AND status = 'running'
    RETURNING status, run_at
""")


async def fail(
    conn: Executor, job: ClaimedJob, error: str, *, policy: RetryPolicy, duration_ms: float = 0.0,
    permanent: bool = False,
) -> str | None:
    """Record a failed attempt. Returns the job's new status ('queued' to retry, or 'dead'),
    or None when the attempt no longer owned the job (lease lost or cancelled)."""
    owned = await conn.execute(
        _FAIL_RUN, {"run_id": job.run_id, "error": error, "duration": duration_ms}
    )
    if owned.scalar_one_or_none() is None:
        return None
    row = (await conn.execute(_FAIL_JOB, {
        "job_id": job.id, "error": error, "permanent": permanent,
        "delay": policy.delay(job.attempts),
    })).one_or_none()
    return row.status if row else None


_RECLAIM = text("""
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
""")


async def reclaim_expired(conn: Executor) -> list[Any]:
    """Requeue (or bury) running jobs whose lease expired; returns (id, kind, status, ...)."""
    return list(await conn.execute(_RECLAIM))


_EXTEND = text("""
    UPDATE jobs SET locked_until = now() + make_interval(secs => :lease)
    WHERE locked_by = :worker AND status = 'running' AND id = ANY(CAST(:ids AS bigint[]))
""")


async def extend_leases(conn: Executor, worker_id: str, job_ids: list[int], lease_seconds: float
                        ) -> None:
    if job_ids:
        await conn.execute(
            _EXTEND, {"worker": worker_id, "ids": job_ids, "lease": float(lease_seconds)}
        )


_RELEASE_RUNS = text("""
    UPDATE runs SET status = 'released', finished_at = now(),
                    error = 'released: worker shut down before the job finished'
    WHERE id = ANY(CAST(:run_ids AS bigint[])) AND status = 'running'
    RETURNING job_id
""")
_RELEASE_JOBS = text("""
    UPDATE jobs
    SET status = 'queued', attempts = greatest(attempts - 1, 0), locked_by = NULL,
        locked_until = NULL, run_at = now(), updated_at = now()
    WHERE id = ANY(CAST(:job_ids AS bigint[])) AND status = 'running'
""")


async def release(conn: Executor, run_ids: list[int]) -> None:
    """Give jobs back to the queue without counting the interrupted attempt."""
    if not run_ids:
        return
    rows = await conn.execute(_RELEASE_RUNS, {"run_ids": run_ids})
    job_ids = [row.job_id for row in rows]
    if job_ids:
        await conn.execute(_RELEASE_JOBS, {"job_ids": job_ids})


async def cancel(conn: Executor, *, job_ids: list[int] | None = None,
                 project_id: int | None = None) -> int:
    """Cancel live jobs by id or by project; a running one stops counting (its result is
    discarded). Returns how many were cancelled."""
    result = await conn.execute(text("""
        UPDATE jobs SET status = 'cancelled', locked_by = NULL, locked_until = NULL,
                        finished_at = now(), updated_at = now()
        WHERE status IN ('queued', 'running')
          AND (id = ANY(CAST(:ids AS bigint[])) OR project_id = :project_id)
    """), {"ids": job_ids or [], "project_id": project_id})
    return result.rowcount


async def retry_job(conn: Executor, job_id: int) -> bool:
    """Put a failed/dead/cancelled job back in the queue with fresh attempts."""
    result = await conn.execute(text("""
        UPDATE jobs SET status = 'queued', attempts = 0, run_at = now(), last_error = NULL,
                        finished_at = NULL, updated_at = now()
        WHERE id = :id AND status IN ('failed', 'dead', 'cancelled')
    """), {"id": job_id})
    return result.rowcount == 1


async def counts_by_status(conn: Executor) -> dict[str, int]:
    rows = await conn.execute(text("SELECT status, count(*) AS n FROM jobs GROUP BY status"))
    return {row.status: row.n for row in rows}


async def has_pending(conn: Executor) -> bool:
    """True while any job is queued (even for later) or running."""
    result = await conn.execute(
        text("SELECT EXISTS (SELECT 1 FROM jobs WHERE status IN ('queued', 'running'))")
    )
    return bool(result.scalar())
