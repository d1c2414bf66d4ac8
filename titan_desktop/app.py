"""``titan`` (no arguments): the desktop control centre on a qasync event loop.

``--smoke-test``: offscreen, a fresh TITAN_HOME unless one is set; creates a persona/basic project
through the Input form's controller, waits for ``published``, prints one JSON line
``{"project", "status", "seconds", "worker_pid"}``, quits cleanly; exit 0 only when published.
``--screenshot DIR``: one PNG per tab in DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Qt and the window load late: the launcher explains a missing Qt first
    from collections.abc import Callable

    from PySide6.QtWidgets import QApplication

    from titan_desktop.window import MainWindow
    from worker.config import Settings
    from worker.db.models import Project

FINISHED = ("published", "failed", "rejected", "cancelled")


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="titan", description="Titan desktop control centre")
    p.add_argument("--smoke-test", action="store_true",
                   help="offscreen: build one project end to end, print a JSON line, exit")
    p.add_argument("--screenshot", metavar="DIR", type=Path,
                   help="save one PNG per tab into DIR and exit")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="seconds the smoke test waits for the project to publish")
    p.add_argument("--no-worker", action="store_true", help="do not spawn a worker")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(list(sys.argv[1:] if argv is None else argv))
    headless = args.smoke_test or args.screenshot is not None
    if headless and not os.environ.get("QT_QPA_PLATFORM") and (
            args.smoke_test or not os.environ.get("DISPLAY")):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if args.smoke_test and not os.environ.get("TITAN_HOME"):
        home = tempfile.mkdtemp(prefix="titan-smoke-")
        # Run as root, pgserver drops to its own user, which must reach the data folder.
        os.chmod(home, 0o755)
        os.environ["TITAN_HOME"] = home

    import qasync
    from PySide6.QtWidgets import QApplication

    from titan_desktop.secrets import load_secrets_into_env
    from worker.config import reload_settings
    from worker.logs import configure_logging

    load_secrets_into_env()
    settings = reload_settings()
    # stdout is for the smoke test's JSON line; the app's own log goes to stderr.
    configure_logging(settings.log_level, stream=sys.stderr, secrets=settings.secret_values())

    from titan_desktop.output.web import prepare_web_engine

    prepare_web_engine()  # before the QApplication, or the site preview falls back to plain HTML
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "titan"])
    assert isinstance(app, QApplication)  # instance() is typed as the QCoreApplication base
    app.setApplicationName("Titan")
    app.setOrganizationName("Titan")
    app.setQuitOnLastWindowClosed(False)  # the loop ends when the window says so
    _apply_stylesheet(app)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        with loop:
            return loop.run_until_complete(_run(args, settings))
    finally:
        asyncio.set_event_loop(None)


def _apply_stylesheet(app: QApplication) -> None:
    from worker.paths import resources_dir

    try:
        sheet = (resources_dir() / "titan.qss").read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return
    app.setStyleSheet(sheet)


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from titan_desktop.window import MainWindow

    window = MainWindow(settings, spawn_worker=not args.no_worker)
    window.closed = asyncio.get_running_loop().create_future()
    _close_on_signals(window)
    window.show()
    try:
        if args.smoke_test:
            try:
                return await smoke_test(window, args.timeout)
            finally:
                # The smoke test's site must not outlive it (nobody will look at it again).
                from worker.sitehost import stop_site_host

                stop_site_host(settings.titan_home)
        if args.screenshot is not None:
            return await screenshots(window, args.screenshot)
        await window.start()
        await window.closed
        return 0
    finally:
        await window.shutdown()
        window.close()


def _close_on_signals(window: MainWindow) -> None:
    """SIGTERM / SIGINT close the window like the person would, so the worker is stopped too."""
    import signal

    from PySide6.QtCore import QTimer

    def close(*_args: object) -> None:
        QTimer.singleShot(0, window.close)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, close)


async def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return bool(predicate())


async def smoke_test(window: object, timeout: float) -> int:
    """Create a project through the Input form and wait until the worker publishes it."""
    from titan_desktop.window import MainWindow

    assert isinstance(window, MainWindow)
    started = time.monotonic()
    if not await window.start():
        print(json.dumps({"project": None, "status": "no database", "seconds": 0,
                          "worker_pid": None}), flush=True)
        return 1
    ctx = window.ctx
    assert ctx is not None  # start() succeeded: the database is open
    form = window.input_tab.form
    created: list[Project] = []
    errors: list[str] = []
    form.controller.created.connect(created.append)
    form.controller.fieldError.connect(lambda field, msg: errors.append(f"{field}: {msg}"))
    form.name.setText(f"Smoke test {time.strftime('%Y%m%d-%H%M%S')}")
    form.template.setCurrentIndex(max(0, form.template.findData("persona/basic")))
    form.submit()
    await wait_for(lambda: created or errors, 60)
    status, slug, worker_pid = "not created", None, window.supervisor.pid if window.supervisor \
        else None
    if created:
        project = created[0]
        slug = project.slug
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = await ctx.projects.get(project.id)
            status = current.status
            if status in FINISHED:
                break
            await asyncio.sleep(0.25)
        worker_pid = window.supervisor.pid if window.supervisor else None
    line = {"project": slug, "status": status, "seconds": round(time.monotonic() - started, 2),
            "worker_pid": worker_pid}
    if errors:
        line["error"] = errors[0]
    print(json.dumps(line), flush=True)
    return 0 if status == "published" else 1


async def screenshots(window: object, directory: Path) -> int:
    """One PNG per tab, after the data has loaded."""
    from titan_desktop.window import TAB_NAMES, MainWindow, save_screenshot, screenshot_name

    assert isinstance(window, MainWindow)
    if not await window.start():
        save_screenshot(window, directory / "00-startup-error.png")
        return 1
    await asyncio.sleep(2.0)  # first loads, the worker's first heartbeat
    progress = window.progress_tab
    if progress.controller.projects.rowCount():
        progress.table.selectRow(_interesting_row(progress.controller.projects.rows))
    output = window.output_tab.projects_panel
    if output.controller.projects.rowCount():
        output.projects_view.selectRow(_interesting_row(output.controller.projects.rows,
                                                        prefer=("awaiting_approval",
                                                                "published")))
    if window.input_tab.chat.model.rowCount() == 0:
        window.input_tab.chat.send("what can you do?")
    await asyncio.sleep(1.0)
    for index, name in enumerate(TAB_NAMES):
        window.tabs.setCurrentIndex(index)
        await asyncio.sleep(0.4)
        path = save_screenshot(window, directory / screenshot_name(index, name))
        print(path, flush=True)
    return 0


def _interesting_row(rows: list[object], prefer: tuple[str, ...] = ("failed", "build",
                                                                      "published")) -> int:
    for status in prefer:
        for i, row in enumerate(rows):
            if getattr(row, "status", None) == status:
                return i
    return 0
