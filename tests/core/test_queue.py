"""Queue semantics against a real PostgreSQL: claiming, completion, retries, dedupe, cancel."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text

from worker import queue
from worker.db.engine import Database
from worker.db.models import Job, Run
from worker.queue import NewJob
from worker.retry import RetryPolicy


async def _job(db: Database, job_id: int) -> Job:
    async with db.session() as s:
        return await s.get(Job, job_id)


async def test_claim_runs_each_job_once_in_priority_order(any_db_url: str) -> None:
    db = Database(any_db_url)
    try:
        async with db.session() as s:
            low = await queue.enqueue(s, NewJob("noop", priority=0))
            high = await queue.enqueue(s, NewJob("noop", priority=10))
            later = await queue.enqueue(s, NewJob("noop", delay_seconds=3600))
        async with db.session() as s:
            first = await queue.claim(s, "w1", batch=10, lease_seconds=30)
        assert [j.id for j in first] == [high, low]  # the delayed job is not due
        async with db.session() as s:
            assert await queue.claim(s, "w2", batch=10, lease_seconds=30) == []
            done = await queue.complete_many(s, [(j.run_id, 1.0) for j in first], {})
        assert done == {high, low}
        assert (await _job(db, high)).status == "succeeded"
        assert (await _job(db, later)).status == "queued"
        async with db.session() as s:
            runs = (await s.scalars(select(Run).order_by(Run.job_id))).all()
        assert [(r.job_id, r.status, r.attempt) for r in runs] == [(low, "succeeded", 1),
                                                                   (high, "succeeded", 1)]
    finally:
        await db.dispose()


async def test_failed_job_backs_off_exponentially_then_dies(db: Database) -> None:
    policy = RetryPolicy(base_seconds=10, factor=3, jitter=0.1)
    async with db.session() as s:
        job_id = await queue.enqueue(s, NewJob("fail", max_attempts=3))
    delays = []
    for attempt in (1, 2, 3):
        async with db.session() as s:
            # Make the job due now so it can be claimed without waiting out the backoff.
            await s.execute(text("UPDATE jobs SET run_at = now() WHERE id = :id"), {"id": job_id})
        async with db.session() as s:
            (claimed,) = await queue.claim(s, "w1", batch=1, lease_seconds=30)
            assert claimed.attempts == attempt
            status = await queue.fail(s, claimed, f"boom {attempt}", policy=policy)
            now = (await s.execute(text("SELECT now()"))).scalar_one()
        job = await _job(db, job_id)
        assert job.status == status
        assert job.last_error == f"boom {attempt}"
        delays.append((job.run_at - now).total_seconds())
    assert job.status == "dead" and job.finished_at is not None
    # attempt 1 waits ~10 s, attempt 2 ~30 s (base * factor^(n-1), +/-10 % jitter)
    assert 9 <= delays[0] <= 11
    assert 27 <= delays[1] <= 33


async def test_dedupe_key_allows_one_live_job(db: Database) -> None:
    async with db.session() as s:
        first = await queue.enqueue(s, NewJob("noop", dedupe_key="project:1:build"))
        second = await queue.enqueue(s, NewJob("noop", dedupe_key="project:1:build"))
    assert first is not None and second is None
    async with db.session() as s:
        (claimed,) = await queue.claim(s, "w", batch=5, lease_seconds=30)
        await queue.complete_many(s, [(claimed.run_id, 1.0)], {})
    async with db.session() as s:  # a finished job frees the key
        assert await queue.enqueue(s, NewJob("noop", dedupe_key="project:1:build")) is not None


async def test_followups_only_when_completion_is_recorded(db: Database) -> None:
    async with db.session() as s:
        a = await queue.enqueue(s, NewJob("noop"))
        b = await queue.enqueue(s, NewJob("noop"))
    async with db.session() as s:
        ja, jb = sorted(await queue.claim(s, "w", batch=2, lease_seconds=30), key=lambda j: j.id)
    async with db.session() as s:  # b is cancelled while it runs: its result is discarded
        await queue.cancel(s, job_ids=[b])
    async with db.session() as s:
        done = await queue.complete_many(
            s, [(ja.run_id, 1.0), (jb.run_id, 1.0)],
            {a: [NewJob("noop", payload={"after": "a"})], b: [NewJob("noop",
                                                                   payload={"after": "b"})]})
        assert done == {a}
        rows = (await s.execute(text("SELECT payload FROM jobs WHERE id > :b"), {"b": b})).all()
    assert [r.payload for r in rows] == [{"after": "a"}]
    assert (await _job(db, b)).status == "cancelled"


async def test_expired_lease_is_reclaimed_and_old_attempt_cannot_complete(db: Database) -> None:
    async with db.session() as s:
        job_id = await queue.enqueue(s, NewJob("noop", max_attempts=3))
    async with db.session() as s:
        (stale,) = await queue.claim(s, "dead-worker", batch=1, lease_seconds=30)
        await s.execute(text("UPDATE jobs SET locked_until = now() - interval '1 second'"))
    async with db.session() as s:
        reclaimed = await queue.reclaim_expired(s)
    assert [(r.id, r.status) for r in reclaimed] == [(job_id, "queued")]
    async with db.session() as s:
        (fresh,) = await queue.claim(s, "live-worker", batch=1, lease_seconds=30)
    assert fresh.attempts == 2
    async with db.session() as s:  # the presumed-dead worker wakes up: nothing happens
        assert await queue.complete_many(s, [(stale.run_id, 1.0)], {}) == set()
        assert await queue.complete_many(s, [(fresh.run_id, 1.0)], {}) == {job_id}
        runs = (await s.scalars(select(Run).where(Run.job_id == job_id).order_by(Run.id))).all()
    assert [r.status for r in runs] == ["lost", "succeeded"]


async def test_release_returns_job_without_spending_an_attempt(db: Database) -> None:
    async with db.session() as s:
        job_id = await queue.enqueue(s, NewJob("noop"))
    async with db.session() as s:
        (claimed,) = await queue.claim(s, "w", batch=1, lease_seconds=30)
        await queue.release(s, [claimed.run_id])
    job = await _job(db, job_id)
    assert (job.status, job.attempts, job.locked_by) == ("queued", 0, None)


async def test_retry_job_requeues_dead_job(db: Database) -> None:
    async with db.session() as s:
        job_id = await queue.enqueue(s, NewJob("fail", max_attempts=1))
    async with db.session() as s:
        (claimed,) = await queue.claim(s, "w", batch=1, lease_seconds=30)
        assert await queue.fail(s, claimed, "boom", policy=RetryPolicy()) == "dead"
        assert await queue.retry_job(s, job_id)
    job = await _job(db, job_id)
    assert (job.status, job.attempts, job.last_error) == ("queued", 0, None)
    assert job.run_at - job.updated_at < timedelta(seconds=1)


async def test_deleting_a_project_deletes_its_jobs_and_their_runs(db_url: str) -> None:
    """Runs have no foreign key to jobs (it cost a fifth of every claim): a trigger must still
    take a job's attempts with it, or the Progress tab's history would keep ghosts."""
    from worker.config import Settings
    from worker.services.projects import ProjectService

    db = Database(db_url)
    try:
        projects = ProjectService.from_settings(db, Settings())
        doomed = await projects.create({"name": "Doomed"})
        kept = await projects.create({"name": "Kept"})
        async with db.session() as s:
            claimed = await queue.claim(s, "w", batch=10, lease_seconds=30)
        assert {j.project_id for j in claimed} == {doomed.id, kept.id}
        async with db.session() as s:
            await queue.complete_many(s, [(j.run_id, 1.0) for j in claimed], {})

        await projects.delete(doomed.id)

        async with db.session() as s:
            runs = (await s.execute(text(
                "SELECT r.job_id, j.project_id FROM runs r LEFT JOIN jobs j ON j.id = r.job_id"
            ))).all()
        assert runs and all(project_id == kept.id for _, project_id in runs)  # no orphans
    finally:
        await db.dispose()
