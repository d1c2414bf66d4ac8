# ruff: noqa: E402  (sys.path must be fixed before the imports)
"""The desktop app's responsiveness: cold start, UI-loop stalls, Logs filtering, memory.

    QT_QPA_PLATFORM=offscreen python bench/desktop.py [--cold-starts 3] [--log-rows 1000000]

Everything runs against the embedded PostgreSQL (pgserver) in a fresh TITAN_HOME (temp dir),
each measurement in its own ``python bench/desktop.py _child <what>`` process that opens the real
``MainWindow`` (database, tabs, live events, the worker it spawns) on a qasync loop:

* first run: empty TITAN_HOME (initdb + migrations + worker) -> first paint of the ready window.
* cold start: the database initialized with 50 published projects, PostgreSQL stopped -> first
  paint of the Progress table showing them. Clock: ``time.time()`` in this process just before
  spawning the child, to the first Paint event (application event filter) on the table's
  viewport once its model holds the rows; median of --cold-starts.
* UI-loop stall: Logs tab in front, 1,000 10-ms jobs run by the spawned worker (default
  concurrency 4) while their log lines stream in; a 10 ms QTimer records the longest gap.
* Logs filter: --log-rows rows inserted with generate_series; time from ``set_filter`` on the
  Logs tab's model to its first page shown (level, text, project+job, none) / to exhaustion.
* memory: resident set size of the app process before and after an hour-equivalent of events:
  36,000 job rows and 100,000 log rows written in 400 rounds (real statements, so the real
  NOTIFYs go through LiveEvents to the event hub and the tabs refresh), then 2 s idle and gc.
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

PROJECTS = 50
EVENT_ROUNDS = 400  # 90 job rows + 250 log rows per round; 10 rounds a second at most


# -- the child processes --------------------------------------------------------------------------

def child_main(what: str) -> None:
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
    body = {"paint": _first_paint, "prepare": _prepare, "session": _session}[what]
    with loop:
        result = loop.run_until_complete(body(app, settings))
    print(json.dumps(result), flush=True)


async def _open(settings: Any, **kwargs: Any) -> Any:
    from titan_desktop.window import MainWindow

    window = MainWindow(settings, **kwargs)
    window.closed = asyncio.get_running_loop().create_future()
    window.show()
    return window


async def _close(window: Any) -> None:
    await window.shutdown()
    window.close()


async def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
    return value


async def _first_paint(app: Any, settings: Any) -> dict[str, Any]:
    """Seconds from BENCH_T0 to the first paint of the Progress table with >= BENCH_ROWS rows."""
    from PySide6.QtCore import QEvent, QObject

    rows_wanted = int(os.environ.get("BENCH_ROWS", "0"))
    painted: list[float] = []
    window: Any = None

    class PaintWatch(QObject):
        def eventFilter(self, obj: Any, event: Any) -> bool:
            if (not painted and event.type() == QEvent.Type.Paint and window is not None
                    and getattr(window, "progress_tab", None) is not None
                    and obj is window.progress_tab.table.viewport()
                    and window.progress_tab.table.model().rowCount() >= rows_wanted):
                painted.append(time.time())
            return False

    watch = PaintWatch()
    app.installEventFilter(watch)
    window = await _open(settings)
    start = asyncio.ensure_future(window.start())
    await _wait(lambda: painted, 300, "the first paint with data")
    seconds = painted[0] - float(os.environ["BENCH_T0"])
    rows = window.progress_tab.table.model().rowCount()
    await start
    app.removeEventFilter(watch)
    await _close(window)
    return {"seconds": seconds, "rows": rows}


async def _prepare(app: Any, settings: Any) -> dict[str, Any]:
    """Initialize TITAN_HOME's database with PROJECTS published projects, no jobs pending."""
    from sqlalchemy import text

    from worker.bootstrap import open_database
    from worker.services.projects import ProjectService

    db = await open_database(settings)
    service = ProjectService.from_settings(db, settings)
    for i in range(PROJECTS):
        await service.create({"name": f"Bench project {i}", "template_ref": "persona/basic"})
    async with db.session() as s:
        await s.execute(text("DELETE FROM jobs"))
        await s.execute(text("UPDATE projects SET status = 'published', progress = 1, "
                             "published_at = now(), finished_at = now()"))
    await db.dispose()
    return {"projects": PROJECTS}


async def _session(app: Any, settings: Any) -> dict[str, Any]:
    import gc

    import psutil

    window = await _open(settings)
    try:
        if not await window.start():
            raise SystemExit("the window could not open the database")
        await _wait(lambda: window.supervisor.state == "running", 60, "the worker")
        result = {"stall": await _stall(window)}
        result["filters"] = await _filters(window, int(os.environ["BENCH_LOG_ROWS"]))
        await _execute(window, "TRUNCATE log_entries")
        window.logs_tab.controller.model.set_filter(window.logs_tab.controller.model.filter)
        await asyncio.sleep(2)
        gc.collect()
        me = psutil.Process()
        before = me.memory_info().rss
        pumped = await _pump(window)
        await asyncio.sleep(2)
        gc.collect()
        result["memory"] = {"before_mb": before / 2**20, "after_mb": me.memory_info().rss / 2**20,
                            **pumped}
        return result
    finally:
        await _close(window)


async def _execute(window: Any, sql: str) -> Any:
    from sqlalchemy import text

    async with window.ctx.db.session() as s:
        result = await s.execute(text(sql))
        return result.scalar() if result.returns_rows else None


async def _stall(window: Any) -> dict[str, Any]:
    from PySide6.QtCore import QTimer

    window.tabs.setCurrentWidget(window.logs_tab)
    # The tab's first show (style polish, first page of rows) is start-up work, not a stall
    # caused by running jobs: let it finish before the clock starts.
    await asyncio.sleep(1.0)
    gaps: list[float] = []
    last = [time.monotonic()]

    def tick() -> None:
        now = time.monotonic()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer(interval=10)
    timer.timeout.connect(tick)
    # 10 ms each (4 at a time): the run lasts a few seconds, as real work would, instead of
    # the ~0.1 s that 1,000 true no-ops take, which left the timer a handful of ticks.
    await _execute(window, "INSERT INTO jobs (kind, payload) SELECT 'noop', "
                           "jsonb_build_object('n', n, 'sleep', 0.01) "
                           "FROM generate_series(1, 1000) n")
    started = last[0] = time.monotonic()
    timer.start()
    while await _execute(window, "SELECT count(*) FROM jobs WHERE status <> 'succeeded'"):
        await asyncio.sleep(0.25)
        if time.monotonic() - started > 600:
            raise SystemExit("1,000 jobs did not finish in 10 minutes")
    timer.stop()
    shown = len(window.logs_tab.controller.model.rows)
    gaps.sort()
    return {"seconds": time.monotonic() - started, "ticks": len(gaps), "max_ms": gaps[-1] * 1000,
            "p99_ms": gaps[int(0.99 * (len(gaps) - 1))] * 1000, "log_rows_shown": shown}


async def _filters(window: Any, rows: int) -> dict[str, Any]:
    from worker.services.logquery import LogFilter

    await _execute(window, "TRUNCATE log_entries")
    t = time.perf_counter()
    await _execute(window, f"""
        INSERT INTO log_entries (ts, level, logger, message, project_id, job_id)
        SELECT now() - make_interval(secs => {rows} - n),
               CASE WHEN n % 1000 = 0 THEN 'ERROR' ELSE 'INFO' END, 'bench',
               CASE WHEN n = {rows // 2} THEN 'the needle line' ELSE 'line ' || n END,
               CASE WHEN n % 10 = 0 THEN 7 END, n / 100
        FROM generate_series(1, {rows}) AS n""")
    await _execute(window, "ANALYZE log_entries")
    inserted = time.perf_counter() - t
    window.tabs.setCurrentWidget(window.logs_tab)
    model = window.logs_tab.controller.model
    out: dict[str, Any] = {"rows": rows, "insert_s": inserted}
    cases = [("no filter, first page", LogFilter(), False),
             ("level ERROR, first page", LogFilter(level="ERROR"), False),
             ("text 'needle', until exhausted", LogFilter(text="needle"), True),
             ("project 7 + job id, until exhausted",
              LogFilter(project_id=7, job_id=rows // 200), True)]
    for label, flt, to_end in cases:
        times = []
        for _ in range(3):
            t = time.perf_counter()
            model.set_filter(flt)
            await _wait(lambda e=to_end: not model.loading and (model.exhausted if e else
                                                                 model.rows), 120, label)
            times.append((time.perf_counter() - t) * 1000)
        out[label] = {"median_ms": statistics.median(times), "max_ms": max(times),
                      "rows": len(model.rows)}
    return out


async def _pump(window: Any) -> dict[str, Any]:
    jobs_per_round, logs_per_round = 36_000 // EVENT_ROUNDS, 100_000 // EVENT_ROUNDS
    started = time.monotonic()
    for _ in range(EVENT_ROUNDS):
        await _execute(window, f"""
            INSERT INTO jobs (kind, payload, status, attempts, finished_at)
            SELECT 'bench.event', '{{}}'::jsonb, 'succeeded', 1, now()
            FROM generate_series(1, {jobs_per_round})""")
        await _execute(window, f"""
            INSERT INTO log_entries (level, logger, message)
            SELECT 'INFO', 'bench', 'event line ' || n
            FROM generate_series(1, {logs_per_round}) n""")
        await asyncio.sleep(0.1)  # the live view coalesces to 10 refreshes a second
    return {"jobs": jobs_per_round * EVENT_ROUNDS, "log_rows": logs_per_round * EVENT_ROUNDS,
            "pump_s": time.monotonic() - started}


# -- the benchmark process ------------------------------------------------------------------------

def _child(what: str, home: Path, **extra: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({"TITAN_HOME": str(home), "QT_QPA_PLATFORM": "offscreen",
                "BENCH_T0": f"{time.time():.6f}", **extra})
    done = subprocess.run([sys.executable, __file__, "_child", what], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"{what} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold-starts", type=int, default=3)
    parser.add_argument("--log-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    from bench.common import forget_user_data

    forget_user_data()

    from importlib.metadata import version

    import PySide6

    from bench.common import header, load_average, median_range, print_table

    header("Desktop: cold start, UI-loop stalls, Logs filter, memory (QT_QPA_PLATFORM=offscreen)",
           extra=[f"cold starts: {args.cold_starts}; log rows: {args.log_rows:,}; "
                  f"embedded PostgreSQL; {PROJECTS} projects in the warm database",
                  f"PySide6 {PySide6.__version__}, qasync {version('qasync')}"] + (
               ["WARNING: PySide6 6.12.0 drops a reference to None on every "
                "QTimer.singleShot(0, fn) (qasync's loop), so a busy app aborts with 'Fatal "
                "Python error: none_dealloc'; use PySide6 < 6.12"]
               if PySide6.__version__ == "6.12.0" else []))
    with tempfile.TemporaryDirectory(prefix="titan-bench-desktop-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        os.chmod(tmp, 0o755)  # pgserver drops to its own user when run as root
        os.chmod(home, 0o755)
        first = _child("paint", home)
        print(f"  first run: {first['seconds']:.2f} s", flush=True)
        _child("prepare", home)
        cold = []
        for i in range(args.cold_starts):
            cold.append(_child("paint", home, BENCH_ROWS=str(PROJECTS))["seconds"])
            print(f"  cold start {i + 1}: {cold[-1]:.2f} s", flush=True)
        print(f"session (stall, filters, memory), load average {load_average()}", flush=True)
        session = _child("session", home, BENCH_LOG_ROWS=str(args.log_rows))
    stall, filters, memory = session["stall"], session["filters"], session["memory"]
    rows = [
        ["first run, empty TITAN_HOME -> first painted ready window", f"{first['seconds']:.2f} s"],
        [f"cold start, initialized database -> first paint with {PROJECTS} projects "
         f"(median of {len(cold)})", median_range(cold, "{:.2f}") + " s"],
        [f"longest UI-loop stall, 1,000 jobs + log stream ({stall['seconds']:.0f} s, "
         f"{stall['ticks']} ticks)", f"{stall['max_ms']:.0f} ms"],
        ["  99th percentile tick gap (timer interval 10 ms)", f"{stall['p99_ms']:.0f} ms"],
    ]
    for label, value in filters.items():
        if isinstance(value, dict):
            rows.append([f"Logs filter over {filters['rows']:,} rows: {label}",
                         f"{value['median_ms']:.0f} ms (max {value['max_ms']:.0f}, "
                         f"{value['rows']} rows)"])
    rows += [
        ["resident memory before the hour-equivalent", f"{memory['before_mb']:.0f} MiB"],
        [f"resident memory after {memory['jobs']:,} job + {memory['log_rows']:,} log events "
         f"({memory['pump_s']:.0f} s)", f"{memory['after_mb']:.0f} MiB"],
    ]
    print()
    print_table(["measure", "value"], rows)
    print(f"load average at end {load_average()}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "_child":
        child_main(sys.argv[2])
    else:
        main()
