"""History charts over millions of runs: how long one refresh of the History view takes (target:
under 200 ms at 10 million runs), beside counting the runs table directly; and what keeping the
aggregate costs the queue's completions.

    python bench/history.py [--runs 10000000] [--queued 10000] [--repeat 20]

Runs on its own embedded PostgreSQL (pgserver) in a temp dir, whatever DATABASE_URL and
TITAN_HOME say, so nothing touches your data.

Data, made in SQL with generate_series (not timed): ``--runs`` finished runs of as many jobs,
spread evenly over the last 30 days (the history's retention), 8 kinds, 1 in 17 failed; their
``job_stats`` rows built by the migration's backfill statement, spread over 4 shards as four
workers would leave them (kinds, outcomes and shards mixed so every minute has all 64
combinations: the most rows the aggregate can hold for 8 kinds and 4 workers); one queue
sample a minute for the last day; and ``--queued`` jobs waiting (half due, half later).

A refresh is ``HistoryService.snapshot(period)``, the one call the History view makes: the queue
now, the period's throughput by kind and the period's queue samples. Times are wall-clock from
the call to its answer over a real connection, ``--repeat`` times each. The first refresh of a
period (a new service, as when the view opens) reads the whole period; later ones re-read only
buckets younger than five minutes (older ones no longer change), so both are reported.

The completion cost: a second, small database; 20,000 jobs claimed in batches of 50 and
completed through ``queue.complete_many`` (the worker's statement), once with the trigger that
keeps ``job_stats`` and once with it disabled.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

# The repository root instead of bench/ (whose queue.py would shadow the stdlib's).
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import psycopg  # noqa: E402

from bench.common import (  # noqa: E402
    database_url,
    embedded_server,
    forget_user_data,
    header,
    load_average,
    pct,
    print_table,
)
from worker import queue  # noqa: E402
from worker.db.engine import Database, libpq_url  # noqa: E402
from worker.db.migrate import upgrade  # noqa: E402
from worker.services.history import HistoryService  # noqa: E402

KINDS = ("scaffold", "build", "deploy", "verify", "publish", "noop", "ops.diff", "ops.test")


def fill(url: str, runs: int, queued: int) -> dict[str, float]:
    """Generate the history; returns seconds per step."""
    steps: dict[str, float] = {}
    kinds = "ARRAY[" + ", ".join(f"'{k}'" for k in KINDS) + "]"
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        def step(name: str, sql: str) -> None:
            started = time.perf_counter()
            conn.execute(sql)
            steps[name] = time.perf_counter() - started
            print(f"  {name}: {steps[name]:.1f} s", flush=True)

        # Finished jobs, one run each, their finish times spread over 30 days up to now.
        step("jobs", f"""
            INSERT INTO jobs (id, kind, status, attempts, run_at, created_at, updated_at,
                              started_at, finished_at)
            SELECT i, ({kinds})[1 + (i / 3) % 8],
                   CASE WHEN i % 17 = 0 THEN 'dead' ELSE 'succeeded' END, 1, t, t, t, t, t
            FROM (SELECT i, now() - (interval '30 days') * (i::float8 / {runs}) AS t
                  FROM generate_series(1, {runs}) AS i) g""")
        step("runs", """
            INSERT INTO runs (id, job_id, worker_id, attempt, status, started_at, finished_at,
                              duration_ms)
            SELECT id, id, 'bench-' || (id % 4), 1,
                   CASE WHEN status = 'dead' THEN 'failed' ELSE 'succeeded' END,
                   finished_at, finished_at, 5
            FROM jobs""")
        conn.execute("SELECT setval('jobs_id_seq', (SELECT max(id) FROM jobs))")
        conn.execute("SELECT setval('runs_id_seq', (SELECT max(id) FROM runs))")
        # What the trigger would have written, in the migration's backfill shape, over the
        # four workers' shards.
        step("job_stats", """
            INSERT INTO job_stats (bucket, kind, outcome, shard, count)
            SELECT date_trunc('minute', r.finished_at), j.kind,
                   CASE WHEN r.status = 'succeeded' THEN 'succeeded' ELSE 'failed' END,
                   (r.id / 11) % 4, count(*)
            FROM runs r JOIN jobs j ON j.id = r.job_id
            WHERE r.status IN ('succeeded', 'failed', 'lost')
            GROUP BY 1, 2, 3, 4""")
        step("queue_samples", """
            INSERT INTO queue_samples (bucket, runnable, scheduled, running,
                                       oldest_runnable_seconds)
            SELECT date_trunc('minute', now()) - make_interval(mins => m),
                   1000 + m % 97, 200, 4, 30 + m % 60
            FROM generate_series(1, 1440) AS m""")
        step("queued jobs", f"""
            INSERT INTO jobs (kind, run_at)
            SELECT ({kinds})[1 + i % 8],
                   now() + CASE WHEN i % 2 = 0 THEN interval '1 hour'
                                ELSE -interval '1 second' * i END
            FROM generate_series(1, {queued}) AS i""")
        step("vacuum job_stats", "VACUUM ANALYZE job_stats")
        step("analyze jobs", "ANALYZE jobs")
        step("analyze runs", "ANALYZE runs")
        stats = conn.execute("SELECT count(*) FROM job_stats").fetchone()
        steps["job_stats rows"] = float(stats[0]) if stats else 0.0
    return steps


async def time_refreshes(url: str, repeat: int) -> list[list[object]]:
    db = Database(url)
    service = HistoryService(db)
    rows: list[list[object]] = []
    try:
        for period in ("hour", "day"):
            first = []
            for _ in range(max(3, repeat // 4)):  # a new service each time: nothing cached
                started = time.perf_counter()
                await HistoryService(db).snapshot(period)
                first.append((time.perf_counter() - started) * 1000)
            rows.append([f"History first load ({period}, view opened)", f"{pct(first, 50):.1f}",
                         f"{pct(first, 95):.1f}", f"{max(first):.1f}", ""])
            await service.snapshot(period)  # the view's first load
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                history = await service.snapshot(period)
                times.append((time.perf_counter() - started) * 1000)
            total = history.throughput.total("succeeded") + history.throughput.total("failed")
            rows.append([f"History refresh ({period})", f"{pct(times, 50):.1f}",
                         f"{pct(times, 95):.1f}", f"{max(times):.1f}",
                         f"{total:,} runs charted"])
    finally:
        await db.dispose()
    return rows


def time_naive_day(url: str) -> list[object]:
    """What a day's chart would cost counted from runs (the thing the aggregate replaces)."""
    with psycopg.connect(libpq_url(url)) as conn:
        started = time.perf_counter()
        conn.execute("""
            SELECT to_timestamp(floor(extract(epoch FROM r.finished_at) / 600) * 600), j.kind,
                   r.status, count(*)
            FROM runs r JOIN jobs j ON j.id = r.job_id
            WHERE r.finished_at > now() - interval '1 day' GROUP BY 1, 2, 3""").fetchall()
        elapsed = (time.perf_counter() - started) * 1000
    return ["Same day counted from runs (no aggregate, no index on finished_at)",
            f"{elapsed:.0f}", "", "", "one run"]


async def completion_cost(url: str, jobs: int = 20_000, batch: int = 50) -> list[list[object]]:
    rows = []
    async with await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True) as conn:
        for trigger in ("ENABLE", "DISABLE"):
            await conn.execute(f"ALTER TABLE runs {trigger} TRIGGER runs_count_finished")
            await conn.execute("TRUNCATE jobs, runs, job_stats CASCADE")
            await queue.enqueue_many(conn, "noop", [{}] * jobs)
            await conn.execute("VACUUM ANALYZE jobs")
            spent = 0.0
            while True:
                claimed = await queue.claim(conn, "bench", batch=batch, lease_seconds=60)
                if not claimed:
                    break
                started = time.perf_counter()
                await queue.complete_many(conn, [(job.run_id, 1.0) for job in claimed], {})
                spent += time.perf_counter() - started
            cur = await conn.execute("SELECT coalesce(sum(count), 0) FROM job_stats")
            counted = (await cur.fetchone() or (0,))[0]
            label = "with the job_stats trigger" if trigger == "ENABLE" else "trigger disabled"
            rows.append([f"complete_many, batches of {batch} ({label})",
                         f"{spent / (jobs / batch) * 1000:.2f}", "", "",
                         f"{jobs / spent:,.0f} completions/s; {counted:,} counted"])
        await conn.execute("ALTER TABLE runs ENABLE TRIGGER runs_count_finished")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000_000)
    parser.add_argument("--queued", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    forget_user_data()
    header("History charts", extra=[f"runs: {args.runs:,}; queued jobs: {args.queued:,}; "
                                    f"{args.repeat} refreshes per period"])
    with tempfile.TemporaryDirectory(prefix="titan-bench-history-") as tmp:
        os.chmod(tmp, 0o755)  # pgserver drops to its own user when run as root
        with embedded_server(Path(tmp) / "server") as server:
            url = database_url(server, "history")
            upgrade(url)
            print("generating (not timed):")
            steps = fill(url, args.runs, args.queued)
            print(f"  job_stats: {steps['job_stats rows']:,.0f} rows\n")
            rows = asyncio.run(time_refreshes(url, args.repeat))
            rows.append(time_naive_day(url))
            small = database_url(server, "completions")
            upgrade(small)
            rows += asyncio.run(completion_cost(small))
    print("Results (ms):")
    print_table(["what", "p50", "p95", "max", "note"], rows)
    print(f"load average: {load_average()} (1/5/15 min) at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
