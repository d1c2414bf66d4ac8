"""Alerts in the window: with no system tray (offscreen), a banner above the tabs shows what the
window's own worker raised; Dismiss hides it. Real window, real worker, real PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMainWindow, QSystemTrayIcon, QToolBar
from sqlalchemy import text

from tests.desktop.conftest import open_window, run, wait_until
from titan_desktop.alerts.attach import attach_alerts
from titan_desktop.context import AppContext
from titan_desktop.live import LiveEvents
from titan_desktop.window import app_icon, save_screenshot
from worker.db.engine import Database
from worker.services import alerts

SHOTS = Path(os.environ.get("TITAN_SHOTS", "/work/wt/shots"))


def test_a_dead_job_shows_a_banner_until_dismissed(settings, titan_env: dict, db_url: str,
                                                    qloop, qtbot) -> None:
    assert not QSystemTrayIcon.isSystemTrayAvailable()  # offscreen: the banner's case

    async def body() -> None:
        db = Database(db_url)
        env = {**titan_env, "TITAN_ALERT_CHECK_SECONDS": "0.3"}
        try:
            async with open_window(settings, worker_env=env, worker_concurrency=1) as window:
                bar = window.findChild(QToolBar, "alertsBar")
                banner = window.alert_banner
                assert bar is not None and not bar.isVisible()
                await wait_until(lambda: window.alerts.last_id is not None, 15,
                                 "the alert controller's starting point")
                async with db.session() as session:
                    await session.execute(text(
                        "INSERT INTO projects (name, slug, template_ref, status) "
                        "VALUES ('Sunflower Bakery', 'sunflower-bakery', 'persona/basic', "
                        "'failed')"))
                    await session.execute(text(
                        "INSERT INTO jobs (kind, status, attempts, max_attempts, last_error, "
                        "finished_at, project_id) SELECT 'deploy', 'dead', 3, 3, "
                        "'OSError: no space left on device', now(), id FROM projects"))
                # The window's worker raises it; the window hears it and shows the banner.
                await wait_until(bar.isVisible, 60, "the alert banner")
                shown = banner.text.text()
                assert "Job failed for good" in shown
                assert "deploy" in shown and "Sunflower Bakery" in shown
                assert "no space left on device" in shown
                save_screenshot(window, SHOTS / "alerts-banner.png")

                qtbot.mouseClick(banner.dismiss_button, Qt.MouseButton.LeftButton)
                assert not bar.isVisible()
                assert window.alerts.pending() == []
        finally:
            await db.dispose()

    run(qloop, body(), timeout=150)


class RecordingTray(QSystemTrayIcon):
    """A real tray icon that also remembers the notices it was asked to show (offscreen Qt has
    no tray to look at)."""

    def __init__(self) -> None:
        super().__init__(app_icon())
        self.notices: list[tuple[str, str]] = []

    def showMessage(self, title: str, message: str, *args: object) -> None:
        self.notices.append((title, message))
        super().showMessage(title, message, *args)


def test_with_a_tray_alerts_are_tray_notices_and_no_banner(settings, db_url: str, qloop,
                                                             qtbot) -> None:
    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        live = LiveEvents(ctx.events, db.url)
        window = QMainWindow()
        qtbot.addWidget(window)
        tray = RecordingTray()
        try:
            controller = attach_alerts(window, ctx, tray)
            live.start()
            assert window.findChild(QToolBar, "alertsBar") is None
            await wait_until(lambda: controller.last_id is not None and live.is_online, 15,
                             "the starting point and the listener")
            async with db.session() as session:
                await session.execute(text(
                    "INSERT INTO workers (id, host, pid, version, status, last_heartbeat) "
                    "VALUES ('silent-9', 'box-z', 99, '1', 'running', "
                    "now() - interval '10 minutes')"))
            await alerts.detect(db, settings)  # what a worker's round does
            await wait_until(lambda: tray.notices, 15, "the tray notice")
            ((title, message),) = tray.notices
            assert title == "Titan alert: Worker stopped heart-beating"
            assert "Worker silent-9 (host box-z, pid 99)" in message
            assert controller.pending() == []  # the tray showed it: nothing left over
        finally:
            await live.stop()
            await ctx.cancel_tasks()
            await db.dispose()

    run(qloop, body())
