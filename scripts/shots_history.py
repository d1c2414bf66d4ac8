"""Screenshots of the History and Workers views under real data (docs and review, not a test).

    QT_QPA_PLATFORM=offscreen python scripts/shots_history.py OUT_DIR [--minutes 6]

A fresh database ``titan_shots_history`` on DATABASE_URL's server (default the local
127.0.0.1:5432) and a temp TITAN_HOME. Two real ``titan worker`` processes run for
``--minutes`` while jobs of a few kinds arrive every few seconds: noop jobs that take a moment,
jobs that always fail (two attempts), jobs of a kind no handler knows, and persona/basic projects
whose pipeline runs scaffold, build, deploy, verify and publish. Then one worker is paused and
both views are grabbed (QWidget.grab) into OUT_DIR as history-hour.png, history-day.png and
workers.png. The workers are stopped and the database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from sqlalchemy import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
NAME = "titan_shots_history"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--minutes", type=float, default=6.0)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    server = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{NAME}"')
    url = make_url(server).set(database=NAME).render_as_string(hide_password=False)
    home = Path(tempfile.mkdtemp(prefix="titan-shots-"))
    env = {**os.environ, "DATABASE_URL": url, "TITAN_HOME": str(home),
           "TITAN_RETRY_BASE_SECONDS": "5", "TITAN_AI_LOCAL": "0"}
    os.environ.update(env)
    subprocess.run([sys.executable, "-m", "worker.cli", "db", "upgrade"], env=env, check=True,
                   cwd=ROOT)
    logs = [open(home / f"worker{i}.log", "w") for i in range(2)]  # noqa: SIM115
    workers = [subprocess.Popen([sys.executable, "-m", "worker.cli", "worker", "--concurrency",
                                 "3"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
               for log in logs]
    try:
        feed(url, env, args.minutes)
        shoot(args.out)
    finally:
        for proc in workers:
            proc.terminate()
        for proc in workers:
            proc.wait(60)
        from worker.sitehost import stop_site_host

        stop_site_host(home)  # the deployed sites' host outlives workers on purpose
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
    return 0


def feed(url: str, env: dict[str, str], minutes: float) -> None:
    rng = random.Random(7)
    end = time.monotonic() + minutes * 60
    made = 0
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < end:
            burst = rng.randint(5, 30)
            conn.execute("""INSERT INTO jobs (kind, payload) SELECT 'noop',
                            jsonb_build_object('sleep', random() * 0.8)
                            FROM generate_series(1, %s)""", (burst,))
            if rng.random() < 0.6:
                conn.execute("INSERT INTO jobs (kind, max_attempts, payload) SELECT 'fail', 2, "
                             "'{\"message\": \"upstream said 503\"}' FROM generate_series(1, %s)",
                             (rng.randint(1, 4),))
            if rng.random() < 0.3:
                conn.execute("INSERT INTO jobs (kind, max_attempts) VALUES ('report.weekly', 1)")
            if rng.random() < 0.25 and made < 8:
                made += 1
                subprocess.run([sys.executable, "-m", "worker.cli", "project", "create",
                                f"Shop {made}", "--template", "persona/basic"], env=env,
                               cwd=ROOT, capture_output=True, check=True)
            if rng.random() < 0.2:  # a few scheduled for later: the queue's other half
                conn.execute("INSERT INTO jobs (kind, run_at) SELECT 'noop', now() + "
                             "interval '20 minutes' FROM generate_series(1, 3)")
            time.sleep(rng.uniform(2, 6))
        # A backlog at the end, so the depth and the oldest job's age show something.
        conn.execute("INSERT INTO jobs (kind, payload) SELECT 'noop', '{\"sleep\": 1}' "
                     "FROM generate_series(1, 60)")


def shoot(out: Path) -> None:
    import qasync
    from PySide6.QtWidgets import QApplication

    from tests.helpers import wait_until
    from titan_desktop.context import AppContext
    from titan_desktop.history.view import HistoryView
    from titan_desktop.workers.view import WorkersView
    from worker.config import reload_settings
    from worker.db.engine import Database

    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)

    async def body() -> None:
        settings = reload_settings()
        db = Database(os.environ["DATABASE_URL"])
        ctx = AppContext(settings, db)
        workers = await ctx.workers.details()
        await ctx.workers.send(workers[-1].id, "pause")
        history = HistoryView(ctx)
        history.resize(1500, 860)
        history.show()
        await wait_until(lambda: history.controller.history is not None, 30, "history")
        await asyncio.sleep(1.5)  # the chart's own animation-free repaint
        out.mkdir(parents=True, exist_ok=True)
        history.grab().save(str(out / "history-hour.png"))
        history.controller.set_period("day")
        await wait_until(lambda: history.controller.history is not None
                         and history.controller.history.throughput.period == "day", 30, "day")
        await asyncio.sleep(0.5)
        history.grab().save(str(out / "history-day.png"))
        view = WorkersView(ctx)
        view.resize(1500, 300)
        view.show()
        await wait_until(lambda: any(w.status == "paused" for w in view.controller.model.rows),
                         30, "a paused worker")
        view.table.selectRow(0)
        await asyncio.sleep(1.5)
        view.grab().save(str(out / "workers.png"))
        history.close()
        view.close()
        await ctx.cancel_tasks()
        await db.dispose()

    with loop:
        loop.run_until_complete(body())


if __name__ == "__main__":
    sys.exit(main())
