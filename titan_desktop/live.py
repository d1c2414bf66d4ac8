"""Live updates: LISTEN titan_events, coalesce bursts, fall back to a slow poll, reconnect.

A worker finishing 1,000 jobs sends thousands of NOTIFYs; the tabs must not refresh thousands of
times. Events only mark tables dirty; a timer emits the dirty set at most ``max_rate`` times a
second. While the listener is down, every table is marked dirty every ``poll_seconds`` instead,
and the listener keeps trying to reconnect with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from PySide6.QtCore import QObject, QTimer

from titan_desktop.context import EventHub
from worker.logs import get_logger
from worker.services.events import EventStream

log = get_logger("titan.desktop.live")

ALL_TABLES = frozenset({"projects", "plan_items", "jobs", "runs", "artifacts", "log_entries",
                        "workers", "approvals", "ops_changes", "orders", "ai_calls", "ai_rounds"})


class LiveEvents(QObject):
    def __init__(self, hub: EventHub, url: str, *, max_rate: float = 10.0,
                 poll_seconds: float = 3.0, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.hub = hub
        self.url = url
        self.is_online = False
        self._dirty: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._stream: EventStream | None = None
        self._flush = QTimer(self, singleShot=True, interval=int(1000 / max_rate))
        self._flush.timeout.connect(self._emit_dirty)
        self._poll = QTimer(self, interval=int(poll_seconds * 1000))
        self._poll.timeout.connect(lambda: self.mark_dirty(ALL_TABLES))

    def start(self) -> None:
        if self._task is None:
            self._poll.start()  # until the listener is up
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        self._poll.stop()
        self._flush.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    def mark_dirty(self, tables: set[str] | frozenset[str]) -> None:
        self._dirty |= set(tables)
        if not self._flush.isActive():
            self._flush.start()

    def _emit_dirty(self) -> None:
        dirty, self._dirty = self._dirty, set()
        if dirty:
            self.hub.tablesChanged.emit(dirty)

    def _set_online(self, online: bool) -> None:
        if online == self.is_online:
            return
        self.is_online = online
        if online:
            self._poll.stop()
            self.mark_dirty(ALL_TABLES)  # catch up on whatever happened while we were away
        else:
            self._poll.start()
        self.hub.online.emit(online)

    def drop_connection(self) -> None:
        """Close the LISTEN connection as if the server had gone away (tests, diagnostics)."""
        if self._stream is not None:
            self._stream.drop()

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                async with EventStream(self.url) as stream:
                    self._stream = stream
                    self._set_online(True)
                    delay = 0.5
                    async for payload in stream.payloads():
                        self._on_payload(payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("event listener disconnected", error=f"{type(exc).__name__}: {exc}")
            self._stream = None
            self._set_online(False)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    def _on_payload(self, payload: str) -> None:
        try:
            event = json.loads(payload)
        except ValueError:
            return
        table = event.get("table")
        if isinstance(table, str):
            self.hub.event.emit(event)
            self.mark_dirty({table})
