# ruff: noqa: E402  (sys.path must be fixed before the imports)
"""Queue benchmark: no-op jobs/s through one worker process, and enqueue -> start latency.

    python bench/queue.py [--jobs 20000] [--latency-jobs 200] [--concurrency 4]

Runs on a fresh embedded PostgreSQL (pgserver) in a temp dir unless BENCH_DATABASE_URL is set.
Times come from the database clock: throughput = jobs / (last run finished - first run started);
latency = run started (claimed) - job created (enqueue committed), per job on an idle worker.
"""

import sys
from pathlib import Path

# This file is named queue.py: keep its folder off sys.path so ``import queue`` is the stdlib's.
ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time

from sqlalchemy import text

from worker import queue
from worker.db.engine import Database, libpq_url
from worker.db.migrate import upgrade
from worker.queue import NewJob


def _worker(url: str, home: str, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": libpq_url(url), "TITAN_HOME": home,
           "TITAN_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING")}
    return subprocess.Popen([sys.executable, "-m", "worker.cli", "worker", *args], env=env,
                            stdout=subprocess.DEVNULL, cwd=ROOT)


async def _reset(db: Database) -> None:
    async with db.session() as s:
        await s.execute(text("TRUNCATE jobs, runs, log_entries, workers CASCADE"))


async def throughput(db: Database, home: str, jobs: int, concurrency: int, batch: int) -> float:
    await _reset(db)
    async with db.session() as s:
        for start in range(0, jobs, 5000):
            await queue.enqueue_many(s, "noop", [{}] * min(5000, jobs - start))
    proc = _worker(db.url, home, "--exit-when-idle", "--concurrency", str(concurrency),
                   *(["--batch-size", str(batch)] if batch else []))
    if proc.wait(timeout=600) != 0:
        raise SystemExit("worker failed")
    async with db.session() as s:
        row = (await s.execute(text(
            "SELECT count(*) AS n, extract(epoch FROM max(finished_at) - min(started_at)) AS secs "
            "FROM runs WHERE status = 'succeeded'"))).one()
    assert row.n == jobs, f"only {row.n} of {jobs} jobs succeeded"
    return jobs / float(row.secs)


async def latency(db: Database, home: str, jobs: int) -> list[float]:
    await _reset(db)
    proc = _worker(db.url, home, "--concurrency", "4")
    try:
        await asyncio.sleep(3)  # the worker is up and idle
        for _ in range(jobs):
            async with db.session() as s:
                await queue.enqueue(s, NewJob("noop"))
            await asyncio.sleep(0.02)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            async with db.session() as s:
                done = (await s.execute(text(
                    "SELECT count(*) FROM jobs WHERE status = 'succeeded'"))).scalar()
            if done == jobs:
                break
            await asyncio.sleep(0.2)
        async with db.session() as s:
            rows = (await s.execute(text(
                "SELECT extract(epoch FROM r.started_at - j.created_at) * 1000 AS ms "
                "FROM runs r JOIN jobs j ON j.id = r.job_id"))).all()
        return sorted(float(r.ms) for r in rows)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--latency-jobs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4, help="default: the worker's")
    parser.add_argument("--batch-size", type=int, default=0, help="default: the worker's")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from bench.common import forget_user_data

    forget_user_data()

    with tempfile.TemporaryDirectory(prefix="titan-bench-") as home:
        url = os.environ.get("BENCH_DATABASE_URL")
        if url is None:
            from worker.db.embedded import embedded_url

            url = embedded_url(Path(home))
        upgrade(url)
        db = Database(url)
        try:
            rates = [await throughput(db, home, args.jobs, args.concurrency, args.batch_size)
                     for _ in range(args.repeat)]
            lat = await latency(db, home, args.latency_jobs)
        finally:
            await db.dispose()
    print(f"{'measure':<44}{'value':>14}")
    print(f"{f'throughput, {args.jobs} no-op jobs, 1 worker process':<44}"
          f"{statistics.median(rates):>10,.0f} j/s  (runs: "
          + ", ".join(f"{r:,.0f}" for r in rates) + ")")
    print(f"{'  concurrency / batch':<44}{args.concurrency:>10} / {args.batch_size}")
    for p in (50, 95, 99):
        label = f"enqueue -> start latency p{p} ({len(lat)} jobs)"
        print(f"{label:<44}{_pct(lat, p):>10.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
