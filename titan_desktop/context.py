"""What every tab gets: settings, the services (the only door to the database) and live events.

One ``AppContext`` per main window. Tabs are QWidget subclasses constructed as ``Tab(ctx)``; they do
all database work as coroutines (``ctx.spawn(coro)``) on the qasync loop, never blocking the UI
thread, and refresh when ``ctx.events.tablesChanged`` names a table they show.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from PySide6.QtCore import QObject, Signal

from worker.config import Settings
from worker.logs import get_logger
from worker.services.database import Database
from worker.services.logquery import LogService
from worker.services.ops import OpsService
from worker.services.projects import ProjectService
from worker.services.sales import SalesService
from worker.services.workers import WorkerService

log = get_logger("titan.desktop")


class EventHub(QObject):
    """Live database changes, already coalesced (see ``titan_desktop.live``)."""

    # set[str] of table names changed since the last emission; at most ~10 emissions a second.
    tablesChanged = Signal(object)
    # True while the LISTEN connection is up; False while the app falls back to slow polling.
    online = Signal(bool)
    # Raw events as they arrive (dict: table, op, count, ids, project_ids, statuses); not
    # coalesced, for the few consumers that need the ids (tray notifications, the chat thread).
    event = Signal(object)  # type: ignore[assignment]  # shadows QObject.event(); a Signal on purpose
    # A project transition a person cares about (titan_desktop.watcher.ProjectEvent): started,
    # step_failed, awaiting_approval, published, failed, rejected, cancelled.
    projectEvent = Signal(object)


class AppContext:
    """Shared services for one main window: ``.projects .ops .workers .sales .logs``.

    ``db`` is the opaque handle the services were built from; tabs pass it on, never query it.
    """

    def __init__(self, settings: Settings, db: Database, projects: ProjectService | None = None,
                 events: EventHub | None = None) -> None:
        self.settings = settings
        self.db = db
        self.projects = projects or ProjectService.from_settings(db, settings)
        self.ops = OpsService(db, settings)
        self.workers = WorkerService(db, settings)
        self.sales = SalesService(db, settings)
        self.logs = LogService(db, settings)
        self.events = events or EventHub()
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` on the qasync loop; exceptions are logged, not lost."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("background task failed", error=f"{type(exc).__name__}: {exc}")

    async def cancel_tasks(self) -> None:
        """Cancel everything still running (on window close), including what a cancelled
        task started on its way out."""
        while tasks := [t for t in self._tasks if not t.done()]:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
