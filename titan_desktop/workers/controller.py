"""Workers controller: loads the workers off the UI thread when ``workers`` or ``jobs`` change,
and sends one worker a command (it obeys on its next heartbeat, on any host)."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from titan_desktop.context import AppContext
from titan_desktop.tasks import Reloader
from titan_desktop.workers.model import WorkersModel

# Heartbeats update ``workers`` every couple of seconds; claims and completions change ``jobs``.
WATCHED = {"workers", "jobs"}
EVENT_DELAY_MS = 500


class WorkersController(QObject):
    message = Signal(str)  # a line for the person: what was asked, or why not

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = WorkersModel(self)
        self.active = False
        self._reloader = Reloader(ctx, self._load)
        self._soon = QTimer(self, singleShot=True, interval=EVENT_DELAY_MS)
        self._soon.timeout.connect(self.reload)
        self._tick = QTimer(self, interval=1000)
        self._tick.timeout.connect(self.model.tick)
        ctx.events.tablesChanged.connect(self._on_tables)

    def start(self) -> None:
        """Load now and live from here on (the view is shown)."""
        self.active = True
        self._tick.start()
        self.reload()

    def stop(self) -> None:
        """No more loads or ticks (the view is hidden)."""
        self.active = False
        self._tick.stop()
        self._soon.stop()

    def reload(self) -> None:
        self._reloader.request()

    def _on_tables(self, tables: set[str]) -> None:
        if self.active and tables & WATCHED and not self._soon.isActive():
            self._soon.start()

    async def _load(self) -> None:
        self.model.set_workers(await self.ctx.workers.details())

    def send(self, worker_id: str, command: str) -> None:
        """Tell one worker to ``pause``, ``resume`` or ``stop``."""

        async def run() -> None:
            if await self.ctx.workers.send(worker_id, command):
                self.message.emit(f"Asked {worker_id} to {command}; it obeys on its next "
                                  f"heartbeat.")
            else:
                self.message.emit(f"{worker_id} is gone.")
            self.reload()

        self.ctx.spawn(run())
