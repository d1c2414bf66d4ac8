"""What every tab gets: settings, the database, the project service and the live event hub.

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
from worker.db.engine import Database
from worker.logs import get_logger
from worker.services.projects import ProjectService

log = get_logger("titan.desktop")


class EventHub(QObject):
    """Live database changes, already coalesced (see ``titan_desktop.live``)."""

    # set[str] of table names changed since the last emission; at most ~10 emissions a second.
    tablesChanged = Signal(object)
    # True while the LISTEN connection is up; False while the app falls back to slow polling.
    online = Signal(bool)
    # Raw events as they arrive (dict: table, op, count, ids, project_ids, statuses); not
    # coalesced, for the few consumers that need the ids (tray notifications, the chat thread).
    event = Signal(object)
    # A project transition a person cares about (titan_desktop.watcher.ProjectEvent): started,
    # step_failed, awaiting_approval, published, failed, rejected, cancelled.
    projectEvent = Signal(object)


class AppContext:
    """Shared services for one main window."""

    def __init__(self, settings: Settings, db: Database, projects: ProjectService | None = None,
                 events: EventHub | None = None) -> None:
        self.settings = settings
        self.db = db
        self.projects = projects or ProjectService.from_settings(db, settings)
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
        """Cancel everything still running (on window close)."""
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
