# ruff: noqa: E402  (sys.path must be fixed before the imports)
"""Titan's queue beside pgqueuer and procrastinate, on one embedded PostgreSQL, in one run.

    python bench/queue_vs_peers.py            # ~10 min: 20,000 jobs, 200 pickups, 3 repetitions
    python bench/queue_vs_peers.py --quick    # ~2 min smoke run with small numbers

Needs the benchmark-only peers: pip install "pgqueuer>=1.6" "procrastinate>=3.10" asyncpg.

One embedded PostgreSQL (pgserver, in a temp dir) holds one database per queue. Every worker is a
separate process started from here: Titan's is the real ``python -m worker.cli worker``, the
peers' are this file run as ``_worker`` (a few lines around each library's own worker API).

Method, identical for every queue:
* throughput: N no-op jobs are enqueued first (not timed); then the clock starts just before the
  worker process is spawned and stops when that process exits by itself after draining the
  queue (Titan ``--exit-when-idle``, pgqueuer ``QueueExecutionMode.drain``, procrastinate
  ``wait=False``). jobs/s = N / that wall time, so it includes interpreter start, imports and
  connecting; "net" subtracts the same process's wall time on an empty queue (measured each
  repetition).
* pickup latency: the worker is started and idle (a warm-up job has run); then single jobs are
  enqueued 50 ms apart through each library's own enqueue call; latency = the handler's first
  ``time.time()`` (written to a file, per job id) minus ``time.time()`` taken just before the
  enqueue call (which inserts and commits).
* "best" settings are chosen by a tuning pass (one run of N/10 jobs per candidate, ranked by
  jobs/s), then the repetitions run interleaved (Titan default, Titan best, pgqueuer psycopg,
  pgqueuer asyncpg, procrastinate, then again ...).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

PICKUP_SPACING_SECONDS = 0.05
CHUNK = 5000


# -- the peers' worker processes ("_worker" mode) -------------------------------------------------

def _stamp(path: str, job_id: object) -> None:
    started = time.time()
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f"{job_id} {started:.6f}\n")


async def _pgqueuer_worker(dsn: str, driver: str, batch: int, drain: bool) -> None:
    from pgqueuer import QueueManager
    from pgqueuer.db import AsyncpgDriver, PsycopgDriver
    from pgqueuer.models import Job
    from pgqueuer.queries import Queries
    from pgqueuer.types import QueueExecutionMode

    if driver == "asyncpg":
        import asyncpg

        db: Any = AsyncpgDriver(await asyncpg.connect(dsn))
    else:
        import psycopg

        db = PsycopgDriver(await psycopg.AsyncConnection.connect(dsn, autocommit=True))
    qm = QueueManager(Queries(db))

    @qm.entrypoint("noop")
    async def noop(job: Job) -> None:
        if job.payload:
            _stamp(job.payload.decode(), job.id)

    mode = QueueExecutionMode.drain if drain else QueueExecutionMode.continuous
    await qm.run(batch_size=batch, mode=mode)


async def _procrastinate_worker(dsn: str, concurrency: int, drain: bool) -> None:
    app = _procrastinate_app(dsn, concurrency)
    async with app.open_async():
        await app.run_worker_async(concurrency=concurrency, wait=not drain)


def _procrastinate_app(dsn: str, concurrency: int) -> Any:
    import logging

    import procrastinate

    # It warns that the App lives in __main__; that is intended here (tasks are looked up by name).
    logging.getLogger("procrastinate").setLevel(logging.ERROR)

    # The connector's pool defaults to 4 connections; give high concurrency enough of them.
    pool = max(4, min(concurrency + 1, 50))
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=dsn, min_size=1, max_size=pool))

    @app.task(name="noop", pass_context=True)
    async def noop(context: Any, stamp: str | None = None) -> None:
        if stamp:
            _stamp(stamp, context.job.id)

    return app


def worker_main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="queue_vs_peers.py _worker")
    p.add_argument("queue", choices=["pgqueuer", "procrastinate"])
    p.add_argument("--dsn", required=True)
    p.add_argument("--driver", default="psycopg")
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--drain", action="store_true")
    a = p.parse_args(argv)
    if a.queue == "pgqueuer":
        asyncio.run(_pgqueuer_worker(a.dsn, a.driver, a.batch, a.drain))
    else:
        asyncio.run(_procrastinate_worker(a.dsn, a.concurrency, a.drain))


# -- the queues, as seen from the benchmark process ----------------------------------------------

class Queue:
    """One queue library: schema, bulk enqueue, single enqueue, worker command line, checks."""

    name = ""

    def __init__(self, url: str, home: Path) -> None:
        from worker.db.engine import libpq_url

        self.url = url  # SQLAlchemy URL of this queue's own database
        self.dsn = libpq_url(url)
        self.home = home

    async def setup(self) -> None: ...
    async def close(self) -> None: ...
    async def reset(self) -> None: ...
    async def enqueue_bulk(self, n: int) -> None: ...
    async def enqueue_one(self, stamp: str) -> Any: ...

    def stamp_folder(self, tmp: Path) -> Path:
        """Where the handler may write its stamps."""
        return tmp
    def command(self, settings: dict[str, int], drain: bool) -> list[str]: ...
    async def done_count(self) -> int: ...

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    async def _sql(self, sql: str) -> Any:
        import psycopg

        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            cur = await conn.execute(sql)
            return (await cur.fetchone()) if cur.description else None


class TitanQueue(Queue):
    name = "titan"

    async def setup(self) -> None:
        from worker.db.engine import Database
        from worker.db.migrate import upgrade

        await asyncio.to_thread(upgrade, self.url)
        self.db = Database(self.url)
        import psycopg

        # Single enqueues go through queue.enqueue on an autocommit connection, as a script or
        # service that enqueues outside a larger transaction would (pgqueuer's does the same).
        self.conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)

    async def close(self) -> None:
        await self.conn.close()
        await self.db.dispose()

    async def reset(self) -> None:
        await self._sql("TRUNCATE jobs, runs, log_entries, workers CASCADE")

    async def enqueue_bulk(self, n: int) -> None:
        from worker import queue

        for start in range(0, n, CHUNK):
            async with self.db.session() as s:
                await queue.enqueue_many(s, "noop", [{}] * min(CHUNK, n - start))

    async def enqueue_one(self, stamp: str) -> Any:
        from worker import queue
        from worker.queue import NewJob

        return await queue.enqueue(self.conn, NewJob("noop", {"stamp": stamp}))

    def command(self, settings: dict[str, int], drain: bool) -> list[str]:
        cmd = [sys.executable, "-m", "worker.cli", "worker",
               "--concurrency", str(settings["concurrency"])]
        if settings.get("batch"):
            cmd += ["--batch-size", str(settings["batch"])]
        return cmd + (["--exit-when-idle"] if drain else [])

    def stamp_folder(self, tmp: Path) -> Path:
        folder = self.home / "titan" / "work"  # Titan's noop writes only in its work folder
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def env(self) -> dict[str, str]:
        env = {**os.environ, "DATABASE_URL": self.dsn, "TITAN_HOME": str(self.home / "titan")}
        env.pop("TITAN_LOG_LEVEL", None)  # Titan's default (INFO: one log row per job)
        return env

    async def done_count(self) -> int:
        return (await self._sql("SELECT count(*) FROM jobs WHERE status = 'succeeded'"))[0]


class PgqueuerQueue(Queue):
    def __init__(self, url: str, home: Path, driver: str) -> None:
        super().__init__(url, home)
        self.driver = driver
        self.name = f"pgqueuer-{driver}"
        self.enqueued = 0

    async def _connect(self) -> Any:
        from pgqueuer.db import AsyncpgDriver, PsycopgDriver

        if self.driver == "asyncpg":
            import asyncpg

            self.conn: Any = await asyncpg.connect(self.dsn)
            return AsyncpgDriver(self.conn)
        import psycopg

        self.conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
        return PsycopgDriver(self.conn)

    async def setup(self) -> None:
        from pgqueuer.queries import Queries

        self.queries = Queries(await self._connect())
        if self.driver == "psycopg":  # both drivers share one database: install once
            await self.queries.install()

    async def close(self) -> None:
        await self.conn.close()

    async def reset(self) -> None:
        await self._sql("TRUNCATE pgqueuer, pgqueuer_log, pgqueuer_statistics")
        self.enqueued = 0

    async def enqueue_bulk(self, n: int) -> None:
        for start in range(0, n, CHUNK):
            k = min(CHUNK, n - start)
            await self.queries.enqueue(["noop"] * k, [None] * k, [0] * k)
        self.enqueued += n

    async def enqueue_one(self, stamp: str) -> Any:
        self.enqueued += 1
        return (await self.queries.enqueue("noop", stamp.encode()))[0]

    def command(self, settings: dict[str, int], drain: bool) -> list[str]:
        return [sys.executable, __file__, "_worker", "pgqueuer", "--dsn", self.dsn,
                "--driver", self.driver, "--batch", str(settings["batch"])] + (
                    ["--drain"] if drain else [])

    async def done_count(self) -> int:
        # Finished jobs leave the queue table; count those gone (nothing fails here).
        left = (await self._sql("SELECT count(*) FROM pgqueuer"))[0]
        return self.enqueued - left


class ProcrastinateQueue(Queue):
    name = "procrastinate"

    async def setup(self) -> None:
        self.app = _procrastinate_app(self.dsn, 1)
        await self.app.open_async()
        await self.app.schema_manager.apply_schema_async()
        self.task = self.app.tasks["noop"]

    async def close(self) -> None:
        await self.app.close_async()

    async def reset(self) -> None:
        await self._sql("TRUNCATE procrastinate_jobs, procrastinate_workers CASCADE")

    async def enqueue_bulk(self, n: int) -> None:
        for start in range(0, n, CHUNK):
            await self.task.batch_defer_async(*([{}] * min(CHUNK, n - start)))

    async def enqueue_one(self, stamp: str) -> Any:
        return await self.task.defer_async(stamp=stamp)

    def command(self, settings: dict[str, int], drain: bool) -> list[str]:
        return [sys.executable, __file__, "_worker", "procrastinate", "--dsn", self.dsn,
                "--concurrency", str(settings["concurrency"])] + (["--drain"] if drain else [])

    async def done_count(self) -> int:
        return (await self._sql(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"))[0]


# -- measurements ---------------------------------------------------------------------------------

@dataclass
class Contender:
    label: str
    queue: Queue
    settings: dict[str, int]
    rates: list[float] = field(default_factory=list)
    net_rates: list[float] = field(default_factory=list)
    latencies: list[list[float]] = field(default_factory=list)  # ms, one list per repetition

    def describe(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.settings.items() if v)


def _spawn(q: Queue, settings: dict[str, int], drain: bool) -> subprocess.Popen[bytes]:
    return subprocess.Popen(q.command(settings, drain), env=q.env(), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def _wait(proc: subprocess.Popen[bytes], timeout: float) -> None:
    try:
        await asyncio.to_thread(proc.wait, timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise SystemExit(f"worker did not finish in {timeout:.0f} s") from None
    if proc.returncode != 0:
        err = (proc.stderr.read() if proc.stderr else b"").decode(errors="replace")
        raise SystemExit(f"worker exited with {proc.returncode}:\n{err[-3000:]}")


async def drain_seconds(q: Queue, settings: dict[str, int], jobs: int) -> float:
    """Wall time from spawning the worker until it exits after draining ``jobs`` no-op jobs."""
    await q.reset()
    await q.enqueue_bulk(jobs)
    started = time.perf_counter()
    proc = _spawn(q, settings, drain=True)
    await _wait(proc, timeout=900)
    seconds = time.perf_counter() - started
    done = await q.done_count()
    if done != jobs:
        raise SystemExit(f"{q.name}: {done} of {jobs} jobs finished")
    return seconds


async def pickup_latencies(q: Queue, settings: dict[str, int], jobs: int, tmp: Path) -> list[float]:
    """Enqueue -> handler start (ms) for ``jobs`` single jobs on an idle worker."""
    await q.reset()
    stamps = q.stamp_folder(tmp) / f"stamps-{q.name}-{time.monotonic_ns()}.txt"
    stamps.touch()
    proc = _spawn(q, settings, drain=False)
    try:
        await q.enqueue_one(str(stamps))  # warm-up: the worker is up, connected and listening
        await _wait_lines(stamps, 1, proc, timeout=120)
        await asyncio.sleep(0.5)
        enqueued: dict[str, float] = {}
        for _ in range(jobs):
            t0 = time.time()
            job_id = await q.enqueue_one(str(stamps))
            enqueued[str(job_id)] = t0
            await asyncio.sleep(PICKUP_SPACING_SECONDS + random.uniform(0, 0.01))
        await _wait_lines(stamps, jobs + 1, proc, timeout=60)
    finally:
        proc.terminate()
        try:
            await asyncio.to_thread(proc.wait, 30)
        except subprocess.TimeoutExpired:
            proc.kill()
    started = dict(line.split() for line in stamps.read_text().splitlines())
    return [(float(started[job_id]) - t0) * 1000 for job_id, t0 in enqueued.items()]


async def _wait_lines(path: Path, n: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.read_text().count("\n") >= n:
            return
        if proc.poll() is not None:
            err = (proc.stderr.read() if proc.stderr else b"").decode(errors="replace")
            raise SystemExit(f"worker exited early ({proc.returncode}):\n{err[-3000:]}")
        await asyncio.sleep(0.05)
    raise SystemExit(f"only {path.read_text().count(chr(10))} of {n} jobs started in {timeout} s")


# -- the run --------------------------------------------------------------------------------------

TITAN_CANDIDATES = [{"concurrency": 4, "batch": 0}, {"concurrency": 16, "batch": 0},
                    {"concurrency": 100, "batch": 0}, {"concurrency": 4, "batch": 100}]
PGQ_CANDIDATES = [{"batch": 10}, {"batch": 50}, {"batch": 100}]
PROCRASTINATE_CANDIDATES = [{"concurrency": 1}, {"concurrency": 10}, {"concurrency": 50}]


async def tune(q: Queue, candidates: list[dict[str, int]], jobs: int) -> tuple[dict[str, int],
                                                                                list[list[str]]]:
    """One run per candidate, ranked by jobs/s (startup is the same for a queue's candidates)."""
    rows, best, best_rate = [], candidates[0], 0.0
    for settings in candidates:
        rate = jobs / await drain_seconds(q, settings, jobs)
        rows.append([q.name, ", ".join(f"{k} {v}" for k, v in settings.items() if v) or "-",
                     f"{rate:,.0f}"])
        if rate > best_rate:
            best, best_rate = settings, rate
    return best, rows


async def run(args: argparse.Namespace) -> None:
    from bench.common import database_url, embedded_server, header, load_average

    header("Queue vs peers: Titan, pgqueuer, procrastinate on one embedded PostgreSQL", extra=[
        f"jobs per throughput run: {args.jobs:,}; tuning runs: "
        f"{f'{args.tune_jobs:,} jobs' if args.tuning else 'none (--smoke)'}; pickup jobs: "
        f"{args.latency_jobs} ({PICKUP_SPACING_SECONDS * 1000:.0f} ms apart); repetitions: "
        f"{args.repeat}",
        f"versions: {_versions()}",
    ])
    wall = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="titan-bench-peers-") as tmp_name, \
            embedded_server(Path(tmp_name) / "server") as server:
        tmp = Path(tmp_name)
        titan = TitanQueue(database_url(server, "bench_titan"), tmp)
        pgq_url = database_url(server, "bench_pgqueuer")
        queues: list[Queue] = [titan, PgqueuerQueue(pgq_url, tmp, "psycopg"),
                               PgqueuerQueue(pgq_url, tmp, "asyncpg"),
                               ProcrastinateQueue(database_url(server, "bench_procrastinate"), tmp)]
        for q in queues:
            await q.setup()
        try:
            contenders = await _tuned_contenders(queues, args)
            for rep in range(1, args.repeat + 1):
                print(f"repetition {rep}/{args.repeat}, load average {load_average()}",
                      flush=True)
                for c in contenders:
                    startup = await drain_seconds(c.queue, c.settings, 0) if args.tuning else 0.0
                    seconds = await drain_seconds(c.queue, c.settings, args.jobs)
                    c.rates.append(args.jobs / seconds)
                    c.net_rates.append(args.jobs / max(seconds - startup, 1e-3))
                    print(f"  {c.label:<28} {c.rates[-1]:>8,.0f} jobs/s "
                          f"(net {c.net_rates[-1]:,.0f}, startup {startup:.2f} s)", flush=True)
                for c in contenders:
                    c.latencies.append(await pickup_latencies(
                        c.queue, c.settings, args.latency_jobs, tmp))
                    lat = c.latencies[-1]
                    print(f"  {c.label:<28} pickup p50 {statistics.median(lat):.1f} ms, "
                          f"max {max(lat):.1f} ms", flush=True)
        finally:
            for q in queues:
                await q.close()
    print()
    _report(contenders, args, time.monotonic() - wall)


async def _tuned_contenders(queues: list[Queue], args: argparse.Namespace) -> list[Contender]:
    from bench.common import print_table

    titan, pgq_psycopg, pgq_asyncpg, procrastinate = queues
    if not args.tuning:
        return [Contender("Titan (default settings)", titan, TITAN_CANDIDATES[0]),
                Contender("pgqueuer (psycopg)", pgq_psycopg, PGQ_CANDIDATES[0]),
                Contender("pgqueuer (asyncpg)", pgq_asyncpg, PGQ_CANDIDATES[0]),
                Contender("procrastinate", procrastinate, PROCRASTINATE_CANDIDATES[0])]
    tuning: list[list[str]] = []
    titan_best, rows = await tune(titan, TITAN_CANDIDATES, args.tune_jobs)
    tuning += rows
    picks = {}
    for q, candidates in ((pgq_psycopg, PGQ_CANDIDATES), (pgq_asyncpg, PGQ_CANDIDATES),
                          (procrastinate, PROCRASTINATE_CANDIDATES)):
        picks[q.name], rows = await tune(q, candidates, args.tune_jobs)
        tuning += rows
    print(f"Tuning pass ({args.tune_jobs:,} jobs, one run each; the best per queue is used "
          "below)")
    print_table(["queue", "settings", "jobs/s"], tuning)
    contenders = [Contender("Titan (default settings)", titan, TITAN_CANDIDATES[0])]
    if titan_best != TITAN_CANDIDATES[0]:
        contenders.append(Contender("Titan (best settings)", titan, titan_best))
    contenders += [Contender("pgqueuer (psycopg)", pgq_psycopg, picks[pgq_psycopg.name]),
                   Contender("pgqueuer (asyncpg)", pgq_asyncpg, picks[pgq_asyncpg.name]),
                   Contender("procrastinate", procrastinate, picks[procrastinate.name])]
    return contenders


def _report(contenders: list[Contender], args: argparse.Namespace, seconds: float) -> None:
    from bench.common import load_average, median_range, pct, print_table

    print(f"Results: medians of {args.repeat} interleaved repetitions (range in brackets)")
    print(f"throughput = {args.jobs:,} no-op jobs through one worker process, spawn to exit; "
          "net = minus that worker's startup+exit on an empty queue")
    print(f"pickup = enqueue call -> handler start, {args.latency_jobs} single jobs on an idle "
          "worker, per-repetition percentiles\n")
    rows = []
    for c in contenders:
        per_rep = {p: [pct(lat, p) for lat in c.latencies] for p in (50, 95, 99)}
        rows.append([c.label, c.describe() or "defaults", median_range(c.rates),
                     median_range(c.net_rates)]
                    + [median_range(per_rep[p], "{:.1f}") for p in (50, 95, 99)])
    print_table(["queue", "settings", "jobs/s", "net jobs/s", "p50 ms", "p95 ms", "p99 ms"],
                rows)
    peers = [c for c in contenders if not c.label.startswith("Titan")]
    best_rate = max(peers, key=lambda c: statistics.median(c.rates))
    best_p99 = min(peers, key=lambda c: statistics.median(pct(x, 99) for x in c.latencies))
    peer_p99 = statistics.median(pct(x, 99) for x in best_p99.latencies)
    ratio_rows = []
    for c in (c for c in contenders if c.label.startswith("Titan")):
        p99 = statistics.median(pct(x, 99) for x in c.latencies)
        ratio_rows.append([
            c.label, f"{statistics.median(c.rates) / statistics.median(best_rate.rates):.2f}x",
            f"{statistics.median(c.net_rates) / statistics.median(best_rate.net_rates):.2f}x",
            f"{p99:.1f} vs {peer_p99:.1f}"])
    print(f"Titan / best peer (throughput: {best_rate.label}, p99 pickup: {best_p99.label})")
    print_table(["Titan", "jobs/s ratio", "net ratio", "p99 ms (Titan vs peer)"], ratio_rows)
    print(f"total time {seconds / 60:.1f} min; load average at end {load_average()}")


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for package in ("pgqueuer", "procrastinate", "asyncpg", "psycopg", "SQLAlchemy", "pgserver"):
        try:
            out.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            out.append(f"{package} missing")
    return ", ".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per throughput run")
    parser.add_argument("--tune-jobs", type=int, help="jobs per tuning run (default jobs/10)")
    parser.add_argument("--latency-jobs", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2,000 jobs, 500 per tuning run, 50 pickups, 1 repetition")
    parser.add_argument("--smoke", action="store_true",
                        help="does it still run? 200 jobs, 10 pickups, no tuning, 1 repetition")
    args = parser.parse_args()
    from bench.common import forget_user_data

    forget_user_data()
    args.tuning = not args.smoke
    if args.smoke:
        args.jobs, args.latency_jobs, args.repeat, args.tune_jobs = 200, 10, 1, 0
    elif args.quick:
        args.jobs, args.latency_jobs, args.repeat = 2000, 50, 1
        args.tune_jobs = args.tune_jobs or 500
    if args.tuning:
        args.tune_jobs = args.tune_jobs or max(1, args.jobs // 10)
    asyncio.run(run(args))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_worker":
        worker_main(sys.argv[2:])
    else:
        main()
