# ruff: noqa: E402  (sys.path must be fixed before the imports)
"""The Queue → Jobs view over a million jobs: first page, filter changes, UI stalls, bulk retry.

    QT_QPA_PLATFORM=offscreen python bench/jobs_view.py [--jobs 1000000] [--stall-only] [--trace]

One child process (``python bench/jobs_view.py _child``) opens the real ``MainWindow`` on a
fresh embedded PostgreSQL (pgserver) in a temp TITAN_HOME, with the worker it spawns:

* --jobs rows are inserted with generate_series (not timed as a result): 50 projects; kinds
  noop/scaffold/build/deploy/verify/publish; 1 % dead, 1 % cancelled, 0.1 % scheduled,
  0.1 % retrying (both due tomorrow, so the worker leaves them), the rest succeeded; one run
  per job on one of three (gone) workers. Then VACUUM ANALYZE, as autovacuum would.
* first page and each filter change: time from ``set_filter`` on the view's model to its first
  page in the model and painted (a synchronous repaint of the table when the page arrives),
  median of 3; "count" is the matching-jobs count
  the view shows beside the filter, which loads in parallel and never holds the page up.
* UI stall: the Queue tab in front, 1,000 10-ms ``noop`` jobs enqueued and run by the spawned
  worker (concurrency 4) while the view refreshes live; a 10 ms QTimer records the longest gap,
  and per gap the UI thread's CPU time and its time runnable but waiting for a core (Linux
  schedstat): on 2 cores shared with the worker and PostgreSQL, a long gap is mostly waiting.
* bulk retry: ``JobService.retry`` of every dead job (1 % of --jobs) by filter, wall time.

``--stall-only`` skips the first pages and the bulk retry. ``--trace`` also prints, for each
tick gap over 30 ms with the Queue tab in front, the UI thread's CPU time in the gap (little
CPU: the process waited for a core), the asyncio callbacks over 5 ms and the garbage
collections that ran in it, and a cProfile of the UI thread over the run (the view's work).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from typing import Any


def child_main() -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["TITAN_NO_KEYRING"] = "1"
    import qasync
    from PySide6.QtWidgets import QApplication

    from worker.config import reload_settings
    from worker.logs import configure_logging

    settings = reload_settings()
    configure_logging("WARNING", stream=sys.stderr)
    app = QApplication.instance() or QApplication(["titan"])
    app.setQuitOnLastWindowClosed(False)
    from titan_desktop.app import _apply_stylesheet

    _apply_stylesheet(app)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        result = loop.run_until_complete(_session(settings, int(os.environ["BENCH_JOBS"])))
    print(json.dumps(result), flush=True)


async def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)
    return value


async def _execute(window: Any, sql: str) -> Any:
    from sqlalchemy import text

    async with window.ctx.db.session() as s:
        result = await s.execute(text(sql))
        return result.scalar() if result.returns_rows else None


async def _fill(window: Any, jobs: int) -> float:
    started = time.perf_counter()
    await _execute(window, """
        INSERT INTO projects (name, slug, template_ref, status)
        SELECT 'Bench project ' || g, 'bench-project-' || g, 'persona/basic', 'published'
        FROM generate_series(1, 50) g""")
    await _execute(window, f"""
        INSERT INTO jobs (kind, status, attempts, max_attempts, project_id, run_at, created_at,
                          updated_at, finished_at, last_error, locked_by)
        SELECT (ARRAY['noop', 'scaffold', 'build', 'deploy', 'verify', 'publish', 'noop',
                      'noop'])[1 + g % 8],
               CASE WHEN g % 100 = 0 THEN 'dead' WHEN g % 100 = 1 THEN 'cancelled'
                    WHEN g % 1000 IN (2, 3) THEN 'queued' ELSE 'succeeded' END,
               CASE WHEN g % 100 = 0 THEN 3 WHEN g % 1000 = 3 THEN 1
                    WHEN g % 100 = 1 OR g % 1000 = 2 THEN 0 ELSE 1 END, 3,
               CASE WHEN g % 8 BETWEEN 1 AND 5 THEN (SELECT min(id) FROM projects) + g % 50
               END,
               CASE WHEN g % 1000 IN (2, 3) THEN now() + interval '1 day'
                    ELSE now() - make_interval(secs => {jobs} - g) END,
               now() - make_interval(secs => {jobs} - g), now() - make_interval(secs => {jobs} - g),
               CASE WHEN g % 1000 NOT IN (2, 3) THEN now() END,
               CASE WHEN g % 100 = 0 THEN 'build failed: exit status 2' END, NULL
        FROM generate_series(1, {jobs}) g""")
    await _execute(window, """
        INSERT INTO runs (job_id, worker_id, attempt, status, started_at, finished_at,
                          duration_ms)
        SELECT id, 'bench-worker-' || id % 3, 1, 'succeeded', created_at, created_at, 1
        FROM jobs WHERE status <> 'queued'""")
    import psycopg

    from worker.db.engine import libpq_url

    # Autovacuum's job, done now (VACUUM runs outside a transaction).
    with psycopg.connect(libpq_url(window.ctx.db.url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE jobs")
        conn.execute("VACUUM ANALYZE runs")
    return time.perf_counter() - started


async def _session(settings: Any, jobs: int) -> dict[str, Any]:
    from titan_desktop.window import MainWindow
    from worker.services.jobs import JobFilter, Selection

    window = MainWindow(settings)
    window.closed = asyncio.get_running_loop().create_future()
    window.show()
    try:
        if not await window.start():
            raise SystemExit("the window could not open the database")
        await _wait(lambda: window.supervisor.state == "running", 60, "the worker")
        result: dict[str, Any] = {"jobs": jobs, "fill_s": await _fill(window, jobs)}
        stall_only = os.environ.get("BENCH_STALL_ONLY") == "1"
        window.tabs.setCurrentWidget(window.queue_tab)
        view = window.queue_tab.jobs
        model = view.controller.model
        service = view.controller.service
        await asyncio.sleep(1.0)  # the tab's first show is start-up work
        cases = [
            ("no filter (newest first)", JobFilter(), "id"),
            ("state dead", JobFilter(state="dead"), "id"),
            ("state cancelled", JobFilter(state="cancelled"), "id"),
            ("state scheduled", JobFilter(state="scheduled"), "id"),
            ("state retrying", JobFilter(state="retrying"), "id"),
            ("state succeeded", JobFilter(state="succeeded"), "id"),
            ("kind build", JobFilter(kind="build"), "id"),
            ("state dead + kind build", JobFilter(state="dead", kind="build"), "id"),
            ("project", JobFilter(project_id=await _execute(
                window, "SELECT min(id) + 7 FROM projects")), "id"),
            ("worker bench-worker-1", JobFilter(worker="bench-worker-1"), "id"),
            ("kind nobody runs (whole-table scan)", JobFilter(kind="ops.diff"), "id"),
            ("sorted by Updated, no filter", JobFilter(), "updatedAt"),
            ("sorted by Updated, state dead", JobFilter(state="dead"), "updatedAt"),
        ]
        filters: dict[str, Any] = {}
        shown: list[float] = []

        def page_shown(_rows: int) -> None:
            # The page is in the model; paint it now (the paint is part of "shown").
            view.table.viewport().repaint()
            shown.append(time.perf_counter())

        model.pageLoaded.connect(page_shown)
        for label, flt, sort in [] if stall_only else cases:
            times, counts, queries = [], [], []
            for _ in range(3):
                model.sort_key = sort
                shown.clear()
                t = time.perf_counter()
                model.set_filter(flt)
                await _wait(lambda: shown, 120, label)
                times.append((shown[0] - t) * 1000)
                t = time.perf_counter()
                matching = await service.count(flt)
                counts.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                await service.page(flt, sort=sort, limit=model.page_size)
                queries.append((time.perf_counter() - t) * 1000)
            filters[label] = {"median_ms": statistics.median(times), "max_ms": max(times),
                              "rows": len(model.rows), "count_ms": statistics.median(counts),
                              "matching": matching, "query_ms": statistics.median(queries)}
            print(f"  {label}: {filters[label]}", file=sys.stderr, flush=True)
        result["filters"] = filters
        model.sort_key = "id"
        view.controller.apply(JobFilter())
        # The same measurement with the Logs tab in front: what this machine's load alone
        # costs the UI loop, for comparison.
        result["stall_logs"] = await _stall(window, window.logs_tab,
                                            trace=os.environ.get("BENCH_TRACE") == "1")
        result["stall"] = await _stall(window, window.queue_tab,
                                       trace=os.environ.get("BENCH_TRACE") == "1")
        if stall_only:
            return result
        t = time.perf_counter()
        retried = await service.retry(Selection(flt=JobFilter(state="dead")))
        result["retry"] = {"jobs": retried, "seconds": time.perf_counter() - t}
        await _execute(window, "UPDATE jobs SET status = 'dead' WHERE status = 'queued' "
                               "AND attempts = 0 AND kind <> 'noop'")  # nothing left to run
        return result
    finally:
        await window.shutdown()
        window.close()


class _Tracer:
    """What ran on the UI thread during the long tick gaps: asyncio callbacks over 5 ms, garbage
    collections, the thread's CPU time per tick; plus a cProfile of the whole run."""

    def __init__(self) -> None:
        import cProfile

        self.callbacks: list[tuple[float, float, str]] = []  # start, ms, what
        self.collections: list[tuple[float, float, int]] = []  # start, ms, generation
        self.profile = cProfile.Profile()
        self._gc_start = 0.0
        self.queries: list[tuple[float, float, str]] = []  # start, end, which JobService call
        self._patched: list[tuple[Any, str, Any]] = []

    def _patch_service(self) -> None:
        from worker.services.jobs import JobService
        from worker.services.projects import ProjectService

        queries = self.queries
        for cls, names in ((JobService, ("page", "count", "kinds", "worker_ids")),
                           (ProjectService, ("names",))):
            for name in names:
                original = getattr(cls, name)

                async def timed(*args: Any, _original: Any = original, _name: str = name,
                                **kwargs: Any) -> Any:
                    t = time.monotonic()
                    try:
                        return await _original(*args, **kwargs)
                    finally:
                        queries.append((t, time.monotonic(), _name))

                setattr(cls, name, timed)
                self._patched.append((cls, name, original))

    def start(self) -> None:
        import gc

        original = asyncio.events.Handle._run
        self._original = original
        callbacks = self.callbacks

        def timed_run(handle: Any) -> None:
            t = time.monotonic()
            original(handle)
            ms = (time.monotonic() - t) * 1000
            if ms > 5:
                callbacks.append((t, ms, _describe(handle)))

        asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]  # tracing only
        self._patch_service()
        gc.callbacks.append(self._gc)
        self.profile.enable()

    def stop(self) -> None:
        import gc

        self.profile.disable()
        gc.callbacks.remove(self._gc)
        asyncio.events.Handle._run = self._original  # type: ignore[method-assign]  # restore
        for cls, name, original in self._patched:
            setattr(cls, name, original)

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.monotonic()
        else:
            ms = (time.monotonic() - self._gc_start) * 1000
            if ms > 2:
                self.collections.append((self._gc_start, ms, info["generation"]))

    def report(self, ticks: list[tuple[float, float, float, float]], profile: bool) -> None:
        import io
        import pstats

        out = sys.stderr
        for end, gap, cpu, waited in ticks:
            if gap < 0.030:
                continue
            start = end - gap
            print(f"gap {gap * 1000:.0f} ms (UI thread CPU {cpu * 1000:.0f} ms, waiting for a "
                  f"core {waited * 1000:.0f} ms) at +{start - ticks[0][0]:.2f} s", file=out)
            for t, t_end, name in self.queries:
                if t <= end and t_end >= start:
                    print(f"    query {name} {(t_end - t) * 1000:.0f} ms "
                          f"(+{t - ticks[0][0]:.2f} s)", file=out)
            for t, ms, what in self.callbacks:
                if start - 0.001 <= t <= end:
                    print(f"    callback {ms:.0f} ms: {what}", file=out)
            for t, ms, generation in self.collections:
                if start - 0.001 <= t <= end:
                    print(f"    gc gen{generation} {ms:.0f} ms", file=out)
        if not profile:
            return
        text = io.StringIO()
        stats = pstats.Stats(self.profile, stream=text)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)
        print(text.getvalue(), file=out)


def _run_delay() -> float:
    """Seconds this thread has spent runnable but waiting for a core (Linux schedstat)."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def _describe(handle: Any) -> str:
    callback = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        return getattr(coro, "__qualname__", repr(coro))
    return getattr(callback, "__qualname__", repr(callback))


async def _stall(window: Any, tab: Any, *, trace: bool = False) -> dict[str, Any]:
    from PySide6.QtCore import QTimer

    model = window.queue_tab.jobs.controller.model
    window.tabs.setCurrentWidget(tab)
    await asyncio.sleep(1.0)
    gaps: list[float] = []
    last = [time.monotonic()]
    cpu = [time.thread_time()]
    waited = [_run_delay()]
    # end, gap, UI thread CPU in the gap, its time runnable but waiting for a core
    ticks: list[tuple[float, float, float, float]] = []

    def tick() -> None:
        now, used = time.monotonic(), time.thread_time()
        delay = _run_delay()
        gaps.append(now - last[0])
        ticks.append((now, now - last[0], used - cpu[0], delay - waited[0]))
        last[0], cpu[0], waited[0] = now, used, delay

    timer = QTimer(interval=10)
    timer.timeout.connect(tick)
    refreshes = [0]
    model.refreshed.connect(lambda: refreshes.__setitem__(0, refreshes[0] + 1))
    await _execute(window, "INSERT INTO jobs (kind, payload) SELECT 'noop', "
                           "jsonb_build_object('n', n, 'sleep', 0.01) "
                           "FROM generate_series(1, 1000) n")
    tracer = _Tracer() if trace else None
    started = last[0] = time.monotonic()
    cpu[0], waited[0] = time.thread_time(), _run_delay()
    if tracer:
        tracer.start()
    timer.start()
    while await _execute(window, "SELECT count(*) FROM jobs WHERE status IN ('queued', "
                                 "'running') AND run_at <= now()"):
        await asyncio.sleep(0.25)
        if time.monotonic() - started > 600:
            raise SystemExit("1,000 jobs did not finish in 10 minutes")
    await asyncio.sleep(1.0)  # the last refreshes
    timer.stop()
    if tracer:
        tracer.stop()
        print(f"-- {tab.objectName() or type(tab).__name__} in front --", file=sys.stderr)
        tracer.report(ticks, profile=tab is window.queue_tab)
    gaps.sort()
    return {"seconds": time.monotonic() - started, "ticks": len(gaps),
            "max_ms": gaps[-1] * 1000, "p99_ms": gaps[int(0.99 * (len(gaps) - 1))] * 1000,
            "refreshes": refreshes[0],
            # The UI thread's own work vs waiting for a core, in the longest gap and at most.
            "longest_cpu_ms": max(ticks, key=lambda t: t[1])[2] * 1000,
            "longest_wait_ms": max(ticks, key=lambda t: t[1])[3] * 1000,
            "max_cpu_ms": max(t[2] for t in ticks) * 1000,
            "max_wait_ms": max(t[3] for t in ticks) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--stall-only", action="store_true",
                        help="only the UI stall (no first pages, no bulk retry)")
    parser.add_argument("--trace", action="store_true",
                        help="what ran on the UI thread in the long gaps, and a profile")
    args = parser.parse_args()
    from bench.common import forget_user_data

    forget_user_data()
    from bench.common import header, load_average, print_table

    header("Queue → Jobs view over many jobs (QT_QPA_PLATFORM=offscreen)",
           extra=[f"jobs: {args.jobs:,}; embedded PostgreSQL; the real MainWindow and worker"])
    with tempfile.TemporaryDirectory(prefix="titan-bench-jobs-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        os.chmod(tmp, 0o755)  # pgserver drops to its own user when run as root
        os.chmod(home, 0o755)
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env.update({"TITAN_HOME": str(home), "QT_QPA_PLATFORM": "offscreen",
                    "BENCH_JOBS": str(args.jobs),
                    "BENCH_STALL_ONLY": "1" if args.stall_only else "0",
                    "BENCH_TRACE": "1" if args.trace else "0"})
        done = subprocess.run([sys.executable, __file__, "_child"], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, text=True, timeout=3600)
        if done.returncode != 0:
            raise SystemExit(f"the session failed ({done.returncode})")
        result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"filled {result['jobs']:,} jobs (+ runs, VACUUM ANALYZE) in {result['fill_s']:.0f} s")
    rows = [[f"first page: {label}", f"{v['median_ms']:.0f} ms (max {v['max_ms']:.0f})",
             f"{v['query_ms']:.0f} ms", f"{v['rows']}",
             f"{v['matching']:,} in {v['count_ms']:.0f} ms"]
            for label, v in result["filters"].items()]
    if rows:
        print_table(["Jobs view, set_filter -> first page painted (median of 3)", "time",
                     "its query alone", "rows", "count (beside the filter)"], rows)
    stall, logs, retry = result["stall"], result["stall_logs"], result.get("retry")
    print_table(["while 1,000 10-ms jobs run", "Queue tab in front", "Logs tab (baseline)"], [
        ["longest UI-loop stall", f"{stall['max_ms']:.0f} ms", f"{logs['max_ms']:.0f} ms"],
        ["  of which UI-thread CPU / waiting for a core",
         f"{stall['longest_cpu_ms']:.0f} / {stall['longest_wait_ms']:.0f} ms",
         f"{logs['longest_cpu_ms']:.0f} / {logs['longest_wait_ms']:.0f} ms"],
        ["most UI-thread CPU between two ticks", f"{stall['max_cpu_ms']:.0f} ms",
         f"{logs['max_cpu_ms']:.0f} ms"],
        ["longest wait for a core between two ticks", f"{stall['max_wait_ms']:.0f} ms",
         f"{logs['max_wait_ms']:.0f} ms"],
        ["99th percentile tick gap (timer 10 ms)", f"{stall['p99_ms']:.0f} ms",
         f"{logs['p99_ms']:.0f} ms"],
        ["run time / ticks", f"{stall['seconds']:.1f} s / {stall['ticks']}",
         f"{logs['seconds']:.1f} s / {logs['ticks']}"],
        ["live refreshes of the Jobs view", f"{stall['refreshes']}", f"{logs['refreshes']}"],
    ])
    if retry:
        print(f"bulk retry of every dead job by filter: {retry['jobs']:,} jobs in "
              f"{retry['seconds']:.2f} s")
    print(f"load average at end: {load_average()} (1/5/15 min)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["_child"]:
        child_main()
    else:
        main()
