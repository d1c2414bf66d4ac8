"""Alerts in the window: with no system tray (offscreen), a banner above the tabs shows what the
window's own worker raised; Dismiss hides it. Real window, real worker, real PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSystemTrayIcon, QToolBar
from sqlalchemy import text

from tests.desktop.conftest import open_window, run, wait_until
from titan_desktop.window import save_screenshot
from worker.db.engine import Database

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
