# ruff: noqa: E402  (sys.path must be fixed before the imports)
"""The Queue → Jobs view over a million jobs: first page, filter changes, UI stalls, bulk retry.

    QT_QPA_PLATFORM=offscreen python bench/jobs_view.py [--jobs 1000000]

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
  worker (concurrency 4) while the view refreshes live; a 10 ms QTimer records the longest gap.
* bulk retry: ``JobService.retry`` of every dead job (1 % of --jobs) by filter, wall time.
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
        for label, flt, sort in cases:
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
        result["stall_logs"] = await _stall(window, window.logs_tab)
        result["stall"] = await _stall(window, window.queue_tab)
        t = time.perf_counter()
        retried = await service.retry(Selection(flt=JobFilter(state="dead")))
        result["retry"] = {"jobs": retried, "seconds": time.perf_counter() - t}
        await _execute(window, "UPDATE jobs SET status = 'dead' WHERE status = 'queued' "
                               "AND attempts = 0 AND kind <> 'noop'")  # nothing left to run
        return result
    finally:
        await window.shutdown()
        window.close()


async def _stall(window: Any, tab: Any) -> dict[str, Any]:
    from PySide6.QtCore import QTimer

    model = window.queue_tab.jobs.controller.model
    window.tabs.setCurrentWidget(tab)
    await asyncio.sleep(1.0)
    gaps: list[float] = []
    last = [time.monotonic()]

    def tick() -> None:
        now = time.monotonic()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer(interval=10)
    timer.timeout.connect(tick)
    refreshes = [0]
    model.refreshed.connect(lambda: refreshes.__setitem__(0, refreshes[0] + 1))
    await _execute(window, "INSERT INTO jobs (kind, payload) SELECT 'noop', "
                           "jsonb_build_object('n', n, 'sleep', 0.01) "
                           "FROM generate_series(1, 1000) n")
    started = last[0] = time.monotonic()
    timer.start()
    while await _execute(window, "SELECT count(*) FROM jobs WHERE status IN ('queued', "
                                 "'running') AND run_at <= now()"):
        await asyncio.sleep(0.25)
        if time.monotonic() - started > 600:
            raise SystemExit("1,000 jobs did not finish in 10 minutes")
    await asyncio.sleep(1.0)  # the last refreshes
    timer.stop()
    gaps.sort()
    return {"seconds": time.monotonic() - started, "ticks": len(gaps),
            "max_ms": gaps[-1] * 1000, "p99_ms": gaps[int(0.99 * (len(gaps) - 1))] * 1000,
            "refreshes": refreshes[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1_000_000)
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
                    "BENCH_JOBS": str(args.jobs)})
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
    print_table(["Jobs view, set_filter -> first page painted (median of 3)", "time",
                 "its query alone", "rows", "count (beside the filter)"], rows)
    stall, logs, retry = result["stall"], result["stall_logs"], result["retry"]
    print_table(["while 1,000 10-ms jobs run", "Queue tab in front", "Logs tab (baseline)"], [
        ["longest UI-loop stall", f"{stall['max_ms']:.0f} ms", f"{logs['max_ms']:.0f} ms"],
        ["99th percentile tick gap (timer 10 ms)", f"{stall['p99_ms']:.0f} ms",
         f"{logs['p99_ms']:.0f} ms"],
        ["run time / ticks", f"{stall['seconds']:.1f} s / {stall['ticks']}",
         f"{logs['seconds']:.1f} s / {logs['ticks']}"],
        ["live refreshes of the Jobs view", f"{stall['refreshes']}", f"{logs['refreshes']}"],
    ])
    print(f"bulk retry of every dead job by filter: {retry['jobs']:,} jobs in "
          f"{retry['seconds']:.2f} s")
    print(f"load average at end: {load_average()} (1/5/15 min)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["_child"]:
        child_main()
    else:
        main()
