"""Queue history: finished jobs per minute by kind, queue depth, the oldest runnable job's age.

Throughput comes from ``job_stats`` (one row per minute, kind, outcome and shard, kept by a
trigger on ``runs``, migration 0007), never from ``runs`` itself: a day's chart reads at most
1,440 minutes x kinds x 2 outcomes x the shards in use, however many millions of runs there are.
The queue's present state is counted from ``jobs`` through its partial indexes (only queued
and running rows); its past is ``queue_samples``, one row a minute written by worker
heartbeats (``record_sample``).

An "outcome" is an attempt: a job that failed twice and then succeeded counts two failures and
one success, as Sidekiq and Oban count them. A lost lease (the worker died) is a failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import text

from worker.db.engine import Database

Period = Literal["hour", "day"]
# (span, bucket) in seconds: an hour by the minute, a day by ten minutes (144 points a series).
PERIODS: dict[str, tuple[int, int]] = {"hour": (3600, 60), "day": (86400, 600)}
# job_stats and queue_samples rows older than this are pruned by the minute's first heartbeat.
KEEP_DAYS = 30
# A bucket this long past its end no longer changes: every statement that finishes runs is short,
# and stamps them with its own start time. A service keeps such buckets' counts and re-reads only
# the newer ones, so a live refresh reads minutes of job_stats, not a whole day.
SETTLED_SECONDS = 300


@dataclass(frozen=True)
class Throughput:
    """Finished attempts per bucket, oldest bucket first; every bucket present (zeros too)."""

    period: str
    bucket_seconds: int
    starts: list[datetime]
    succeeded: dict[str, list[int]]  # kind -> count per bucket
    failed: dict[str, list[int]]

    @property
    def kinds(self) -> list[str]:
        """Every kind with an outcome in the period, alphabetical (the charts stack them so)."""
        return sorted(set(self.succeeded) | set(self.failed))

    def total(self, outcome: Literal["succeeded", "failed"], kind: str | None = None) -> int:
        """Attempts with ``outcome`` in the whole period, of one kind or of all."""
        series = self.succeeded if outcome == "succeeded" else self.failed
        if kind is not None:
            return sum(series.get(kind, ()))
        return sum(sum(counts) for counts in series.values())


@dataclass(frozen=True)
class QueueNow:
    """The queue as the database saw it at ``at``."""

    at: datetime
    runnable: int  # queued and due now: what idle workers would claim
    scheduled: int  # queued for later (delayed jobs, retries waiting out their backoff)
    running: int
    oldest_runnable_seconds: float | None  # None when nothing is runnable

    @property
    def depth(self) -> int:
        """Jobs waiting, due now or later."""
        return self.runnable + self.scheduled


@dataclass(frozen=True)
class QueueSample:
    bucket: datetime
    runnable: int
    scheduled: int
    running: int
    oldest_runnable_seconds: float | None


@dataclass(frozen=True)
class History:
    """What the History view draws in one refresh."""

    throughput: Throughput
    queue: QueueNow
    samples: list[QueueSample]


def bucket_starts(now: datetime, period: str) -> list[datetime]:
    """The period's bucket starts, oldest first, the last one holding ``now``."""
    span, step = _period(period)
    last = int(now.timestamp()) // step * step
    count = span // step
    return [datetime.fromtimestamp(last - step * (count - 1 - i), UTC) for i in range(count)]


def _period(period: str) -> tuple[int, int]:
    if period not in PERIODS:
        raise ValueError(f"{period!r} is not a history period (one of: {', '.join(PERIODS)})")
    return PERIODS[period]


_THROUGHPUT = """
    SELECT to_timestamp(floor(extract(epoch FROM bucket)::float8 / :step) * :step) AS start,
           kind, outcome, sum(count)::bigint
    FROM job_stats WHERE bucket >= :since
    GROUP BY 1, 2, 3
"""

_QUEUE_NOW = """
    SELECT now(),
           count(*) FILTER (WHERE run_at <= now()),
           count(*) FILTER (WHERE run_at > now()),
           (SELECT count(*) FROM jobs WHERE status = 'running'),
           extract(epoch FROM now() - min(run_at) FILTER (WHERE run_at <= now()))::float
    FROM jobs WHERE status = 'queued'
"""

_SAMPLES = """
    SELECT bucket, runnable, scheduled, running, oldest_runnable_seconds
    FROM queue_samples WHERE bucket >= :since ORDER BY bucket
"""


class HistoryService:
    """Throughput, queue depth and oldest-job age for the History view and the API."""

    def __init__(self, db: Database, settings: Any = None) -> None:
        self.db = db
        self.settings = settings
        # period -> settled bucket start (epoch seconds) -> its (kind, outcome, count) rows
        self._settled: dict[str, dict[int, list[tuple[str, str, int]]]] = {}

    async def snapshot(self, period: str = "hour") -> History:
        """Everything the History view shows for ``period`` (``hour`` or ``day``), read in
        one transaction so the figures agree with each other."""
        span, step = _period(period)
        async with self.db.session() as session:
            now, runnable, scheduled, running, oldest = (
                await session.execute(text(_QUEUE_NOW))).one()
            queue = QueueNow(at=now, runnable=int(runnable), scheduled=int(scheduled),
                             running=int(running), oldest_runnable_seconds=oldest)
            starts = bucket_starts(now, period)
            settled = self._settled.setdefault(period, {})
            keys = [int(start.timestamp()) for start in starts]
            for gone in [key for key in settled if key < keys[0]]:
                del settled[gone]
            first_unread = next((i for i, key in enumerate(keys) if key not in settled),
                                len(keys))
            fresh = (await session.execute(text(_THROUGHPUT), {
                "step": step, "since": starts[min(first_unread, len(keys) - 1)]})).all()
            samples = (await session.execute(
                text(_SAMPLES), {"since": now - timedelta(seconds=span)})).all()
        by_bucket: dict[int, list[tuple[str, str, int]]] = {}
        for start, kind, outcome, count in fresh:
            by_bucket.setdefault(int(start.timestamp()), []).append((kind, outcome, int(count)))
        horizon = now.timestamp() - SETTLED_SECONDS
        for key in keys[first_unread:]:
            if key + step <= horizon:
                settled[key] = by_bucket.get(key, [])
        rows = [(key, *row) for key in keys
                for row in (settled[key] if key in settled else by_bucket.get(key, []))]
        return History(throughput=_throughput(period, step, keys, starts, rows), queue=queue,
                       samples=[QueueSample(*row) for row in samples])

    async def throughput(self, period: str = "hour") -> Throughput:
        """Only the period's succeeded and failed attempts per bucket, by kind."""
        return (await self.snapshot(period)).throughput

    async def queue_now(self) -> QueueNow:
        """The queue's depth by state and its oldest runnable job's age, now."""
        async with self.db.session() as session:
            now, runnable, scheduled, running, oldest = (
                await session.execute(text(_QUEUE_NOW))).one()
        return QueueNow(at=now, runnable=int(runnable), scheduled=int(scheduled),
                        running=int(running), oldest_runnable_seconds=oldest)


def _throughput(period: str, step: int, keys: list[int], starts: list[datetime],
                rows: list[tuple[int, str, str, int]]) -> Throughput:
    """``rows`` are (bucket start in epoch seconds, kind, outcome, count); buckets outside the
    period (a row stamped in the future by another host's clock) are not charted."""
    index = {key: i for i, key in enumerate(keys)}
    series: dict[str, dict[str, list[int]]] = {"succeeded": {}, "failed": {}}
    for key, kind, outcome, count in rows:
        slot = index.get(key)
        if slot is None:
            continue
        counts = series[outcome].setdefault(kind, [0] * len(starts))
        counts[slot] += count
    return Throughput(period=period, bucket_seconds=step, starts=starts,
                      succeeded=series["succeeded"], failed=series["failed"])


# -- the worker's side: one queue sample a minute, on its heartbeat connection ----------------

# The NOT EXISTS is a one-time filter: every beat after the minute's first costs one primary-key
# probe, and the counts run at most once a minute whatever the number of workers.
_RECORD_SAMPLE = """
    INSERT INTO queue_samples (bucket, runnable, scheduled, running, oldest_runnable_seconds)
    SELECT date_trunc('minute', now()),
           count(*) FILTER (WHERE run_at <= now()),
           count(*) FILTER (WHERE run_at > now()),
           (SELECT count(*) FROM jobs WHERE status = 'running'),
           extract(epoch FROM now() - min(run_at) FILTER (WHERE run_at <= now()))::float
    FROM jobs
    WHERE status = 'queued'
      AND NOT EXISTS (SELECT 1 FROM queue_samples WHERE bucket = date_trunc('minute', now()))
    HAVING NOT EXISTS (SELECT 1 FROM queue_samples WHERE bucket = date_trunc('minute', now()))
    ON CONFLICT (bucket) DO NOTHING
"""


async def record_sample(conn: Any) -> bool:
    """Write this minute's queue sample unless a worker already has; the first writer of a
    minute also prunes history older than ``KEEP_DAYS``. True when this call wrote it."""
    cur = await conn.execute(_RECORD_SAMPLE)
    if cur.rowcount != 1:
        return False
    keep = {"days": KEEP_DAYS}
    await conn.execute("DELETE FROM queue_samples WHERE bucket < now() - make_interval("
                       "days => %(days)s)", keep)
    await conn.execute("DELETE FROM job_stats WHERE bucket < now() - make_interval("
                       "days => %(days)s)", keep)
    return True
