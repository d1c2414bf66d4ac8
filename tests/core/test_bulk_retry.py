"""Issue 19's done-when: a bulk retry of 10,000 dead jobs completes and each job runs once more.

Real ``titan worker`` processes (two, so the claim's SKIP LOCKED has someone to race) on a
real PostgreSQL; every execution of a ``noop`` job appends its id to a file, so "once more"
is counted from what the handlers did, not from what the database says.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import text

from tests.conftest import spawn_worker
from worker.db.engine import Database
from worker.services.jobs import JobFilter, JobService, Selection

JOBS = 10_000


async def test_bulk_retry_of_10000_dead_jobs_runs_each_exactly_once_more(
        titan_env: dict, db: Database) -> None:
    marker = Path(titan_env["TITAN_HOME"]) / "work" / "retried.txt"  # noop writes only there
    async with db.session() as s:
        # Dead as the queue leaves them: out of attempts, with the failed attempts' runs.
        await s.execute(text("""
            INSERT INTO jobs (kind, payload, status, attempts, max_attempts, last_error,
                              finished_at)
            SELECT 'noop', jsonb_build_object('touch', CAST(:marker AS text)), 'dead', 2, 2,
                   'boom', now()
            FROM generate_series(1, :n)"""), {"marker": str(marker), "n": JOBS})
        await s.execute(text("""
            INSERT INTO runs (job_id, worker_id, attempt, status, error, finished_at)
            SELECT id, 'gone-worker', a, 'failed', 'boom', now()
            FROM jobs, generate_series(1, 2) a"""))
        # Bystanders a filter on dead noop jobs must leave alone.
        await s.execute(text("""
            INSERT INTO jobs (kind, status, attempts, max_attempts, last_error)
            SELECT 'build', 'dead', 3, 3, 'other' FROM generate_series(1, 50)"""))
    service = JobService(db)
    dead_noops = Selection(flt=JobFilter(state="dead", kind="noop"))
    assert await service.count_for("retry", dead_noops) == JOBS

    assert await service.retry(dead_noops) == JOBS

    workers = [spawn_worker(titan_env, "--exit-when-idle", "--concurrency", "8")
               for _ in range(2)]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs[0][-2000:]

    executions = Counter(int(line.split()[0]) for line in marker.read_text().splitlines())
    async with db.session() as s:
        noop_ids = set((await s.scalars(text("SELECT id FROM jobs WHERE kind = 'noop'"))).all())
        states = dict((await s.execute(text(
            "SELECT kind || ':' || status, count(*) FROM jobs GROUP BY 1"))).all())
        attempts = dict((await s.execute(text("""
            SELECT n, count(*) FROM (SELECT count(*) AS n FROM runs GROUP BY job_id) per_job
            GROUP BY n"""))).all())
    assert set(executions) == noop_ids and set(executions.values()) == {1}
    assert states == {"noop:succeeded": JOBS, "build:dead": 50}
    assert attempts == {3: JOBS}  # the two failed attempts and the one retried run
    assert await service.count(JobFilter(state="dead")) == 50
