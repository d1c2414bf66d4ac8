"""History controller: loads the history off the UI thread, live.

A worker finishing jobs changes ``jobs`` many times a second; the charts need no more than one
refresh a second, so table events only arm a one-second timer. A slower timer refreshes anyway:
queue ages grow and minutes roll over while no table changes.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from titan_desktop.context import AppContext
from titan_desktop.history.model import KindTotalsModel
from titan_desktop.tasks import Reloader
from worker.services.history import PERIODS, History, HistoryService

# Runs change only together with their jobs; workers' heartbeats write the queue samples.
WATCHED = {"jobs", "workers"}
EVENT_DELAY_MS = 1000
REFRESH_MS = 5000


class HistoryController(QObject):
    historyChanged = Signal(object)  # History

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.service = HistoryService(ctx.db, ctx.settings)
        self.totals = KindTotalsModel(self)
        self.period = "hour"
        self.history: History | None = None
        self.active = False
        self._reloader = Reloader(ctx, self._load)
        self._soon = QTimer(self, singleShot=True, interval=EVENT_DELAY_MS)
        self._soon.timeout.connect(self.reload)
        self._refresh = QTimer(self, interval=REFRESH_MS)
        self._refresh.timeout.connect(self.reload)
        ctx.events.tablesChanged.connect(self._on_tables)

    @property
    def loads(self) -> int:
        """How many refreshes ran (tests read it)."""
        return self._reloader.loads

    def start(self) -> None:
        """Refresh now and live from here on (the view is shown)."""
        self.active = True
        self._refresh.start()
        self.reload()

    def stop(self) -> None:
        """No more refreshes (the view is hidden): nobody looks at the charts."""
        self.active = False
        self._refresh.stop()
        self._soon.stop()

    def reload(self) -> None:
        self._reloader.request()

    def set_period(self, period: str) -> None:
        if period not in PERIODS:
            raise ValueError(f"unknown period {period!r}")
        if period != self.period:
            self.period = period
            self.reload()

    def _on_tables(self, tables: set[str]) -> None:
        if self.active and tables & WATCHED and not self._soon.isActive():
            self._soon.start()

    async def _load(self) -> None:
        period = self.period
        history = await self.service.snapshot(period)
        if period != self.period:  # switched meanwhile: the reloader runs again for the new one
            return
        self.history = history
        self.totals.set_throughput(history.throughput)
        self.historyChanged.emit(history)
