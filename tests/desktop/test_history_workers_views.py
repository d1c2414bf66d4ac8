"""The History and Workers views, offscreen, against real worker processes.

History: a worker runs jobs of three kinds, some failing; the charts and the totals table show
what the runs table says, and the hour/day switch redraws them. Workers: the running worker is
listed with its pid and version; selecting it and clicking Pause reaches the real process, which
reports itself paused; Resume and Stop follow the same way.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from sqlalchemy import text

from tests.conftest import spawn_worker
from tests.desktop.conftest import run, wait_until
from titan_desktop.context import AppContext
from titan_desktop.history.view import HistoryView
from titan_desktop.live import LiveEvents
from titan_desktop.workers.model import HEARTBEAT, PID, STATUS, VERSION
from titan_desktop.workers.view import WorkersView
from worker.db.engine import Database

LEFT = Qt.MouseButton.LeftButton
SHOTS = os.environ.get("TITAN_SHOTS_DIR")  # set it to save screenshots of the views


def _stacked_total(chart) -> float:  # type: ignore[no-untyped-def]
    """The top of the stack, summed over the buckets: what the chart draws in all."""
    if not chart.areas:
        return 0.0
    tops = [0.0] * len(next(iter(chart.areas.values()))[1].points())
    for _area, upper, lower in chart.areas.values():
        for i, (u, lo) in enumerate(zip(upper.points(), lower.points(), strict=True)):
            tops[i] += u.y() - lo.y()
    return sum(tops)


async def _enqueue(db: Database, kind: str, count: int, max_attempts: int = 1) -> None:
    async with db.session() as s:
        await s.execute(text("INSERT INTO jobs (kind, max_attempts) SELECT :k, :a "
                             "FROM generate_series(1, :n)"),
                        {"k": kind, "a": max_attempts, "n": count})


def test_history_charts_a_real_worker_s_jobs_by_kind(titan_env: dict, settings, db_url: str,
                                                     qloop, qtbot) -> None:
    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        try:
            await _enqueue(db, "noop", 60)
            await _enqueue(db, "fail", 6, max_attempts=2)
            await _enqueue(db, "mystery", 3)
            worker = spawn_worker(titan_env, "--exit-when-idle", "--concurrency", "4")
            await wait_until(lambda: worker.poll() is not None, 120, "the worker to finish")
            assert worker.returncode == 0, worker.communicate()[0]
            async with db.session() as s:  # a job still waiting, ten minutes overdue
                await s.execute(text("INSERT INTO jobs (kind, run_at) "
                                     "VALUES ('later', now() - interval '10 minutes')"))

            view = HistoryView(ctx)
            qtbot.addWidget(view)
            view.resize(1400, 800)
            view.show()
            controller = view.controller
            totals = controller.totals
            await wait_until(lambda: len(totals.rows) == 3, 30, "three kinds in the table")
            assert totals.rows == [("fail", 0, 12), ("mystery", 0, 3), ("noop", 60, 0)]
            assert sorted(view.succeeded_chart.areas) == ["fail", "mystery", "noop"]
            assert round(_stacked_total(view.succeeded_chart)) == 60
            assert round(_stacked_total(view.failed_chart)) == 15
            assert "60 succeeded, 15 failed" in view.summary.text()
            assert "1 runnable" in view.summary.text()
            assert view.oldest.text().startswith("Oldest runnable job waiting 10m")
            assert view.depth_chart.lines["runnable"].points()[-1].y() == 1

            if SHOTS:
                view.grab().save(os.path.join(SHOTS, "history-test-hour.png"))
            loads = controller.loads
            qtbot.mouseClick(view.period_buttons["day"], LEFT)
            await wait_until(lambda: controller.history is not None
                             and controller.history.throughput.period == "day"
                             and controller.loads > loads, 30, "the day's history")
            title = view.succeeded_chart.chart().title()
            assert title == "Succeeded per minute (10-minute average)"
            # Ten-minute buckets drawn as per-minute rates: a tenth of the count per bucket.
            assert round(_stacked_total(view.succeeded_chart) * 10) == 60
            assert round(_stacked_total(view.failed_chart) * 10) == 15
            view.close()
            await ctx.cancel_tasks()
        finally:
            await db.dispose()

    run(qloop, body(), timeout=180)


def test_pause_resume_and_stop_one_real_worker_from_the_workers_view(
        titan_env: dict, settings, db_url: str, qloop, qtbot) -> None:
    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        live = LiveEvents(ctx.events, db.url)  # heartbeats reach the view as table events
        live.start()
        await wait_until(lambda: live.is_online, 15, "the listener")
        worker = spawn_worker(titan_env, "--concurrency", "2")
        try:
            view = WorkersView(ctx)
            qtbot.addWidget(view)
            view.resize(1200, 300)
            view.show()
            model = view.controller.model
            await wait_until(lambda: model.rowCount() == 1, 60, "the worker in the table")
            row = model.rows[0]
            assert model.index(0, PID).data() == str(worker.pid)
            assert model.index(0, VERSION).data() == row.version != ""
            assert model.index(0, HEARTBEAT).data().endswith(" ago")
            assert not view.buttons["pause"].isEnabled()  # nothing selected yet

            def status() -> str:
                return model.index(0, STATUS).data()

            rect = view.table.visualRect(model.index(0, 0))
            qtbot.mouseClick(view.table.viewport(), LEFT, pos=rect.center())
            assert view.selected_id() == row.id
            assert view.buttons["pause"].isEnabled() and not view.buttons["resume"].isEnabled()
            qtbot.mouseClick(view.buttons["pause"], LEFT)
            await wait_until(lambda: status() == "paused", 30, "the worker to report paused")
            assert view.buttons["resume"].isEnabled() and not view.buttons["pause"].isEnabled()
            assert "pause" in view.status.text()

            # Paused means it claims nothing: a job waits until Resume.
            async with db.session() as s:
                await s.execute(text("INSERT INTO jobs (kind) VALUES ('noop')"))
            qtbot.mouseClick(view.buttons["resume"], LEFT)
            await wait_until(lambda: status() == "running", 30, "the worker to resume")
            await wait_until(lambda: model.rows[0].processed == 1, 30, "the job to be processed")

            qtbot.mouseClick(view.buttons["stop"], LEFT)
            await wait_until(lambda: worker.poll() is not None, 60, "the worker to exit")
            assert worker.returncode == 0
            await wait_until(lambda: status() == "stopped", 30, "the row to say stopped")
            assert not any(b.isEnabled() for b in view.buttons.values())
            view.close()
            await ctx.cancel_tasks()
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
            await live.stop()
            await db.dispose()

    run(qloop, body(), timeout=180)
