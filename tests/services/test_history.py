"""History against a real worker: the per-minute aggregate matches the runs it made, by kind and
outcome; queue depth and the oldest runnable job's age; the once-a-minute queue samples.

The "reality" each test compares with is the ``runs`` table itself, counted the slow way.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import psycopg
from sqlalchemy import text

from tests.conftest import spawn_worker
from worker.db.engine import Database, libpq_url
from worker.services.history import HistoryService, bucket_starts, record_sample


async def _enqueue(db: Database, kind: str, count: int, *, max_attempts: int = 1,
                   run_at: str = "now()") -> None:
    async with db.session() as s:
        await s.execute(text(f"""
            INSERT INTO jobs (kind, max_attempts, run_at)
            SELECT :kind, :attempts, {run_at} FROM generate_series(1, :n)"""),
            {"kind": kind, "attempts": max_attempts, "n": count})


async def _runs_by_minute(db: Database) -> Counter[tuple[datetime, str, str]]:
    """(minute, kind, outcome) -> attempts, from the runs themselves."""
    async with db.session() as s:
        rows = (await s.execute(text("""
            SELECT date_trunc('minute', r.finished_at), j.kind,
                   CASE WHEN r.status = 'succeeded' THEN 'succeeded' ELSE 'failed' END, count(*)
            FROM runs r JOIN jobs j ON j.id = r.job_id
            WHERE r.status IN ('succeeded', 'failed', 'lost') GROUP BY 1, 2, 3"""))).all()
    return Counter({(minute, kind, outcome): n for minute, kind, outcome, n in rows})


def _charted(throughput) -> Counter[tuple[datetime, str, str]]:  # type: ignore[no-untyped-def]
    found: Counter[tuple[datetime, str, str]] = Counter()
    for outcome, series in (("succeeded", throughput.succeeded), ("failed", throughput.failed)):
        for kind, counts in series.items():
            for start, n in zip(throughput.starts, counts, strict=True):
                if n:
                    found[(start, kind, outcome)] = n
    return found


async def test_real_workers_successes_and_failures_are_charted_per_minute_by_kind(
        titan_env: dict, db: Database) -> None:
    await _enqueue(db, "noop", 120)
    await _enqueue(db, "fail", 15, max_attempts=3)  # each fails 3 times, then it is dead
    await _enqueue(db, "no-such-kind", 7)  # no handler: fails for good at once
    # Two workers at once: each adds to its own shard rows, and their sums are exact.
    workers = [spawn_worker(titan_env, "--exit-when-idle", "--concurrency", "8")
               for _ in range(2)]
    for worker in workers:
        output, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0, output

    history = await HistoryService(db).snapshot("hour")
    tp = history.throughput
    assert tp.total("succeeded", "noop") == 120
    assert tp.total("failed", "fail") == 45
    assert tp.total("failed", "no-such-kind") == 7
    assert tp.total("succeeded") == 120 and tp.total("failed") == 52
    assert tp.kinds == ["fail", "no-such-kind", "noop"]
    # Minute by minute, the chart is exactly what the runs table says.
    assert _charted(tp) == await _runs_by_minute(db)
    assert len(tp.starts) == 60 and tp.bucket_seconds == 60

    day = (await HistoryService(db).snapshot("day")).throughput
    assert len(day.starts) == 144 and day.bucket_seconds == 600
    assert (day.total("succeeded"), day.total("failed")) == (120, 52)
    # Nothing is left to run, and the worker's heartbeats sampled the queue.
    assert (history.queue.runnable, history.queue.running) == (0, 0)
    assert history.samples, "no queue sample was written by the worker's heartbeat"


async def test_a_lost_lease_counts_as_a_failure_and_a_released_job_as_nothing(
        db_url: str, db: Database) -> None:
    from worker import queue

    await _enqueue(db, "crashy", 2, max_attempts=2)
    async with await psycopg.AsyncConnection.connect(libpq_url(db_url),
                                                     autocommit=True) as conn:
        first, second = await queue.claim(conn, "w1", batch=2, lease_seconds=30)
        await queue.release(conn, [second.run_id])  # shut down before it finished
        await conn.execute("UPDATE jobs SET locked_until = now() - interval '1 second' "
                           "WHERE id = %s", (first.id,))
        assert [r.status for r in await queue.reclaim_expired(conn)] == ["queued"]
        # A later edit of a finished run is not a second outcome.
        await conn.execute("UPDATE runs SET error = 'edited' WHERE id = %s", (first.run_id,))
    tp = (await HistoryService(db).snapshot("hour")).throughput
    assert (tp.total("failed", "crashy"), tp.total("succeeded")) == (1, 0)


async def test_queue_depth_and_the_oldest_runnable_job(db_url: str, db: Database) -> None:
    service = HistoryService(db)
    empty = await service.queue_now()
    assert (empty.runnable, empty.scheduled, empty.running) == (0, 0, 0)
    assert empty.oldest_runnable_seconds is None
    await _enqueue(db, "noop", 3, run_at="now() - interval '10 minutes'")
    await _enqueue(db, "noop", 4)
    await _enqueue(db, "noop", 5, run_at="now() + interval '1 hour'")  # e.g. a retry's backoff
    async with db.session() as s:
        await s.execute(text("""
            INSERT INTO jobs (kind, status, locked_by, locked_until, started_at)
            VALUES ('build', 'running', 'w', now() + interval '30 seconds', now())"""))
    queue = await service.queue_now()
    assert (queue.runnable, queue.scheduled, queue.running, queue.depth) == (7, 5, 1, 12)
    assert queue.oldest_runnable_seconds is not None
    assert 600 <= queue.oldest_runnable_seconds < 900  # ten minutes, give or take the test

    # The minute's first heartbeat samples the queue; later beats that minute write nothing.
    async with await psycopg.AsyncConnection.connect(libpq_url(db_url),
                                                     autocommit=True) as conn:
        assert await record_sample(conn) is True
        assert await record_sample(conn) is False
    [sample] = (await service.snapshot("hour")).samples
    assert (sample.runnable, sample.scheduled, sample.running) == (7, 5, 1)
    assert sample.oldest_runnable_seconds is not None
    assert sample.oldest_runnable_seconds >= 600


async def test_history_older_than_a_month_is_pruned_by_the_minute_s_sample(
        db_url: str, db: Database) -> None:
    async with db.session() as s:
        await s.execute(text("""
            INSERT INTO job_stats (bucket, kind, outcome, count) VALUES
              (date_trunc('minute', now() - interval '40 days'), 'noop', 'succeeded', 5),
              (date_trunc('minute', now() - interval '2 days'), 'noop', 'succeeded', 6);
            INSERT INTO queue_samples (bucket, runnable, scheduled, running)
            VALUES (date_trunc('minute', now() - interval '40 days'), 1, 0, 0)"""))
    async with await psycopg.AsyncConnection.connect(libpq_url(db_url),
                                                     autocommit=True) as conn:
        assert await record_sample(conn)
    async with db.session() as s:
        kept = (await s.execute(text("SELECT sum(count) FROM job_stats"))).scalar_one()
        samples = (await s.execute(text("SELECT count(*) FROM queue_samples"))).scalar_one()
    assert (kept, samples) == (6, 1)


def test_bucket_starts_end_at_the_current_bucket() -> None:
    now = datetime(2026, 12, 7, 10, 17, 42, tzinfo=UTC)
    hour = bucket_starts(now, "hour")
    assert (hour[0], hour[-1]) == (datetime(2026, 12, 7, 9, 18, tzinfo=UTC),
                                   datetime(2026, 12, 7, 10, 17, tzinfo=UTC))
    day = bucket_starts(now, "day")
    assert (len(day), day[-1]) == (144, datetime(2026, 12, 7, 10, 10, tzinfo=UTC))


async def test_a_live_service_rereads_only_recent_buckets_and_stays_right(db: Database) -> None:
    async with db.session() as s:
        await s.execute(text("""
            INSERT INTO job_stats (bucket, kind, outcome, count) VALUES
              (date_trunc('minute', now() - interval '30 minutes'), 'build', 'succeeded', 4),
              (date_trunc('minute', now()), 'build', 'failed', 1)"""))
    service = HistoryService(db)
    first = (await service.snapshot("hour")).throughput
    assert (first.total("succeeded"), first.total("failed")) == (4, 1)
    async with db.session() as s:  # more work finishes this minute, on another shard
        await s.execute(text("""
            INSERT INTO job_stats (bucket, kind, outcome, shard, count) VALUES
              (date_trunc('minute', now()), 'build', 'failed', 3, 2),
              (date_trunc('minute', now()), 'deploy', 'succeeded', 3, 5)"""))
    again = (await service.snapshot("hour")).throughput
    assert (again.total("succeeded", "build"), again.total("failed", "build")) == (4, 3)
    assert again.total("succeeded", "deploy") == 5
    assert again.succeeded["build"][-31] == 4  # the settled bucket, from the service's memory
