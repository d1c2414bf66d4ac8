"""The desktop app against a real PostgreSQL and real ``titan worker`` processes it spawns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from sqlalchemy import text

from tests.conftest import ROOT
from tests.desktop.conftest import open_window, run, wait_until
from titan_desktop.context import AppContext
from titan_desktop.logs.model import LogTableModel
from worker.config import reload_settings
from worker.db.engine import Database
from worker.services.logquery import LogFilter

LEFT = Qt.MouseButton.LeftButton


def _status_of(model: object, name: str) -> str | None:
    for row in model.rows:  # type: ignore[attr-defined]
        if row.name == name:
            return row.status
    return None


async def _scalar(db: Database, sql: str, **params: object) -> object:
    async with db.session() as session:
        return await session.scalar(text(sql), params)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes (QProcess reaps it right after).
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_form_project_appears_in_progress_and_publishes(titan_env: dict, qloop, qtbot) -> None:
    async def body() -> None:
        async with open_window(reload_settings()) as window:
            form = window.input_tab.form
            form.name.setText("Form Made Site")
            fields = {f.path: f for f in form.spec_fields}
            fields["spec.description"].write("Built from the Input tab")
            fields["spec.features"].write(["Pricing", "Contact"])
            qtbot.mouseClick(form.create_button, LEFT)

            progress = window.progress_tab.controller.projects
            await wait_until(lambda: _status_of(progress, "Form Made Site"), 15,
                             "the project to show in Progress")
            assert window.tabs.currentWidget() is window.progress_tab
            await wait_until(lambda: _status_of(progress, "Form Made Site") == "published", 60,
                             "the worker to publish it")
            row = progress.rows[progress.row_for_key(progress.rows[0].id)]
            assert row.progress == 1.0

            # Selecting it shows the plan (every goal ticked) and the five succeeded jobs.
            window.progress_tab.select_project(row.id)
            plan = window.progress_tab.controller.plan
            await wait_until(lambda: plan.totals()[1] > 0, 10, "the plan tree")
            done, total = plan.totals()
            assert done == total == 3 * 5  # home page + 2 features, five goals each
            jobs = window.progress_tab.controller.jobs
            await wait_until(lambda: jobs.rowCount() == 5, 10, "the jobs")
            assert [jobs.root.children[i].values[1] for i in range(5)] == ["succeeded"] * 5

            # The chat threads the project's events under the form's message.
            chat = window.input_tab.chat
            thread = chat.threads[row.id]
            await wait_until(lambda: any("published" in c.values[0] for c in thread.children),
                             10, "the published event in the chat")
            assert any("started" in c.values[0] for c in thread.children)

    run(qloop, body())


def test_invalid_form_shows_field_error_and_writes_nothing(titan_env: dict, qloop, qtbot
                                                           ) -> None:
    async def body() -> None:
        async with open_window(reload_settings(), spawn_worker=False) as window:
            form = window.input_tab.form
            form.name.setText("   ")
            qtbot.mouseClick(form.create_button, LEFT)
            await wait_until(lambda: form.errors["name"].isVisibleTo(form), 10, "name error")
            assert "letter or digit" in form.errors["name"].text() or form.errors["name"].text()

            form.name.setText("Good Name")
            fields = {f.path: f for f in form.spec_fields}
            fields["spec.features"].write(["Blog", "blog"])
            qtbot.mouseClick(form.create_button, LEFT)
            error = form.errors["spec.features"]
            await wait_until(lambda: error.isVisibleTo(form), 10, "features error")
            assert "duplicate" in error.text().lower()
            assert not form.errors["name"].isVisibleTo(form)

            form.json_box.setChecked(True)
            form.json_edit.setPlainText('{"description": ')
            qtbot.mouseClick(form.create_button, LEFT)
            assert "not valid JSON" in form.errors["spec"].text()

            db = window.ctx.db
            assert await _scalar(db, "SELECT count(*) FROM projects") == 0
            assert await _scalar(db, "SELECT count(*) FROM jobs") == 0
            assert await _scalar(db, "SELECT count(*) FROM plan_items") == 0

    run(qloop, body())


def test_supervisor_restarts_a_killed_worker_and_the_stuck_job_completes(
        titan_env: dict, qloop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Short leases so the killed worker's job is reclaimed within seconds.
    monkeypatch.setenv("TITAN_JOB_LEASE_SECONDS", "2")
    monkeypatch.setenv("TITAN_HEARTBEAT_SECONDS", "0.5")
    marker = Path(titan_env["TITAN_HOME"]) / "work" / "ran.txt"  # noop writes only there

    async def body() -> None:
        async with open_window(reload_settings()) as window:
            sup = window.supervisor
            await wait_until(lambda: sup.state == "running", 20, "the worker to start")
            first_pid = sup.pid
            async with window.ctx.db.session() as session:
                job_id = await session.scalar(text("""
                    INSERT INTO jobs (kind, payload) VALUES ('noop', CAST(:p AS jsonb))
                    RETURNING id"""), {"p": json.dumps({"sleep": 30, "sleep_attempts": 1,
                                                         "touch": str(marker)})})
            await wait_until(lambda: marker.exists() or _running(window, job_id), 15,
                             "the job to be claimed")
            await wait_until(lambda: _running(window, job_id), 15, "the job to run")

            sup.kill_for_test()
            await wait_until(lambda: sup.state == "crashed", 10, "the crash to be noticed")
            await wait_until(lambda: sup.state == "running" and sup.pid != first_pid, 20,
                             "the supervisor to restart the worker")
            assert not _alive(first_pid)
            status = await _wait_job(window.ctx.db, job_id, "succeeded", 30)
            assert status == "succeeded"
            assert marker.read_text().count(f"{job_id} ") == 1  # ran to completion once

    run(qloop, body())


_job_states: dict[int, str] = {}


def _running(window: object, job_id: int) -> bool:
    task = window.ctx.spawn(_scalar(window.ctx.db, "SELECT status FROM jobs WHERE id = :id",  # type: ignore[attr-defined]
                                    id=job_id))
    task.add_done_callback(lambda t: _job_states.__setitem__(job_id, t.result()))
    return _job_states.get(job_id) == "running"


async def _wait_job(db: Database, job_id: int, status: str, timeout: float) -> str:
    return str(await wait_until(
        lambda: _scalar(db, "SELECT status FROM jobs WHERE id = :id", id=job_id), timeout,
        f"job {job_id} {status}", done=lambda current: current == status, interval=0.2))


def test_logs_model_pages_through_a_million_rows_and_filters(titan_env: dict, qloop) -> None:
    async def body() -> None:
        settings = reload_settings()
        db = Database(str(settings.database_url.get_secret_value()).replace(  # type: ignore[union-attr]
            "postgresql://", "postgresql+psycopg://", 1))
        try:
            async with db.session() as session:
                await session.execute(text("""
                    INSERT INTO log_entries (ts, level, logger, message, project_id, job_id)
                    SELECT now() - make_interval(secs => 1000000 - n),
                           CASE WHEN n % 1000 = 0 THEN 'ERROR' ELSE 'INFO' END, 'bench',
                           CASE WHEN n = 123457 THEN 'the needle line' ELSE 'line ' || n END,
                           CASE WHEN n % 10 = 0 THEN 7 END, n / 100
                    FROM generate_series(1, 1000000) AS n"""))
            ctx = AppContext(settings, db)
            model = LogTableModel(ctx, page_size=500)
            model.set_filter(LogFilter())
            await wait_until(lambda: len(model.rows) == 500, 10, "the first page")
            for pages in range(2, 21):
                model.fetchMore()
                await wait_until(lambda p=pages: len(model.rows) == 500 * p, 10, "a page")
            ids = [row.id for row in model.rows]
            assert len(ids) == 10_000 and ids == sorted(ids, reverse=True)
            assert ids[0] - ids[-1] == 9_999  # newest first, no gaps, no duplicates
            assert model.canFetchMore()

            model.set_filter(LogFilter(level="ERROR"))
            await wait_until(lambda: (model.exhausted and not model.loading and not
                             model.canFetchMore()) or _fetch(model), 30, "all ERROR rows")
            assert len(model.rows) == 1000
            assert {row.level for row in model.rows} == {"ERROR"}

            model.set_filter(LogFilter(text="needle"))
            await wait_until(lambda: model.exhausted, 30, "the text search")
            assert [row.message for row in model.rows] == ["the needle line"]

            model.set_filter(LogFilter(project_id=7, job_id=1234))
            await wait_until(lambda: model.exhausted, 30, "project + job filter")
            assert len(model.rows) == 10  # n in 123400..123499 with n % 10 == 0
            assert all(r.project_id == 7 and r.job_id == 1234 for r in model.rows)
            await ctx.cancel_tasks()
        finally:
            await db.dispose()

    run(qloop, body(), timeout=150)


def _fetch(model: LogTableModel) -> bool:
    if model.canFetchMore():
        model.fetchMore()
    return False


def test_closing_the_app_stops_the_worker_it_spawned(titan_env: dict, qloop) -> None:
    async def body() -> None:
        async with open_window(reload_settings()) as window:
            sup = window.supervisor
            await wait_until(lambda: sup.state == "running", 20, "the worker to start")
            pid = sup.pid
            db = window.ctx.db
            worker_id = await wait_until(lambda: sup.info and sup.info.id, 10, "its heartbeat")
            window.close()  # what the person does; the app then shuts down
            assert window.closed.done()
            await window.shutdown()
            assert not _alive(pid)
            assert sup.state == "stopped"
            check = Database(db.url)
            try:
                status = await _scalar(check, "SELECT status FROM workers WHERE id = :id",
                                       id=worker_id)
            finally:
                await check.dispose()
            assert status == "stopped"  # it shut down cleanly (SIGTERM), not killed

    run(qloop, body())


def test_ui_loop_is_never_blocked_while_1000_jobs_run(titan_env: dict, qloop) -> None:
    async def body() -> None:
        async with open_window(reload_settings(), worker_concurrency=16) as window:
            await wait_until(lambda: window.supervisor.state == "running", 20, "the worker")
            gaps: list[float] = []
            last = [time.monotonic()]

            def tick() -> None:
                now = time.monotonic()
                gaps.append(now - last[0])
                last[0] = now

            timer = QTimer(interval=10)
            timer.timeout.connect(tick)
            async with window.ctx.db.session() as session:
                await session.execute(text("""
                    INSERT INTO jobs (kind, payload, project_id)
                    SELECT 'noop', jsonb_build_object('n', n, 'sleep', 0.02), NULL
                    FROM generate_series(1, 1000) n"""))
            last[0] = time.monotonic()
            timer.start()
            done = await _wait_count(window.ctx.db, 1000, 90)
            timer.stop()
            assert done == 1000
            assert len(gaps) > 50
            # The behaviour bound the issue sets: the UI loop never stalls over 100 ms.
            assert max(gaps) < 0.100, f"longest stall {max(gaps) * 1000:.0f} ms"
            window.tabs.setCurrentWidget(window.logs_tab)
            await wait_until(lambda: window.logs_tab.controller.model.rows, 10, "log lines")

    run(qloop, body(), timeout=150)


async def _wait_count(db: Database, expected: int, timeout: float) -> int:
    return int(await wait_until(
        lambda: _scalar(db, "SELECT count(*) FROM jobs WHERE status = 'succeeded'"), timeout,
        f"{expected} succeeded jobs", done=lambda count: int(count) >= expected, interval=0.25))


def test_smoke_test_mode_on_the_embedded_database() -> None:
    """``titan --smoke-test`` as packaging runs it: no DATABASE_URL and no TITAN_HOME, so it
    makes a fresh home and starts the embedded PostgreSQL there."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TITAN_HOME")}
    done = subprocess.run([sys.executable, "-m", "titan_desktop.launcher", "--smoke-test"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    line = json.loads(done.stdout.strip().splitlines()[-1])
    assert line["status"] == "published"
    assert line["project"].startswith("smoke-test-")
    # The app stopped the worker it spawned before exiting.
    assert isinstance(line["worker_pid"], int) and not _alive(line["worker_pid"])
