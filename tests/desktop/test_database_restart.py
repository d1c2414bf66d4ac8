"""The embedded PostgreSQL is SIGKILLed (as an OOM kill would) under the running app and the
worker it spawned: the server runs again, the worker builds a project created after the kill,
the Progress tab shows it published and the status bar says the database was restarted."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from tests.core.test_recovery import postmaster
from tests.desktop.conftest import open_window, run, wait_until
from worker.config import reload_settings
from worker.sitehost import stop_site_host

# Real processes over tens of seconds: part of the fault suite (-m 'not slow' leaves it out).
pytestmark = pytest.mark.slow


def test_killed_embedded_database_comes_back_under_the_app_and_its_worker(
        titan_env: dict, qloop, monkeypatch: pytest.MonkeyPatch) -> None:
    # Outside pytest's temp root: see tests/core/test_recovery.py::embedded_home.
    home = Path(tempfile.mkdtemp(prefix="titan-embedded-"))
    os.chmod(home, 0o755)
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("TITAN_HOME", str(home))
    settings = reload_settings()
    assert settings.embedded

    async def body() -> None:
        async with open_window(settings) as window:
            sup = window.supervisor
            await wait_until(lambda: sup.state == "running", 60, "the worker to start")
            await wait_until(lambda: sup.info is not None, 30, "the worker's heartbeat")
            pid, _url = postmaster(home / "pgdata")
            assert "restarted" not in window.status.database.text()

            os.kill(pid, signal.SIGKILL)
            await wait_until(lambda: (p := postmaster(home / "pgdata")) and p[0] != pid, 60,
                             "the server to run again")
            await wait_until(lambda: "restarted at" in window.status.database.text(), 30,
                             "the status bar to say so")
            assert "Database restarted at" in window.status.notice.text()

            project = await window.ctx.projects.create({"name": "After Restart"})
            rows = window.progress_tab.controller.projects

            def published() -> bool:
                return any(p.id == project.id and p.status == "published" for p in rows.rows)

            await wait_until(published, 120, "the Progress tab to show it published")
            await wait_until(lambda: "online" in window.status.database.text()
                             and "offline" not in window.status.database.text(), 30,
                             "the live connection to come back")
            assert sup.state == "running"

    try:
        run(qloop, body(), timeout=300)
    finally:
        from worker.db.embedded import _servers

        server = _servers.pop((home / "pgdata").resolve(), None)
        if server is not None:  # stop it now rather than at the test process's exit
            server.cleanup()  # type: ignore[attr-defined]
        stop_site_host(home)  # the published project's host must not outlive the test
        shutil.rmtree(home, ignore_errors=True)
