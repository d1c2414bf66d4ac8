"""Hears new alerts (the ``alerts`` table, through titan_events, plus a slow poll) and hands
them to the tray or the banner. The worker raises alerts; the desktop only shows them."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from titan_desktop.alerts.model import AlertsModel
from titan_desktop.context import AppContext
from titan_desktop.tasks import Reloader
from worker.services.alerts import AlertInfo, AlertService

POLL_MS = 10_000  # in case a NOTIFY was missed (the listener reconnecting)


class AlertController(QObject):
    raised = Signal(object)  # list[AlertInfo]: new since the last look, oldest first

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.service = AlertService(ctx.db)
        self.model = AlertsModel(self)
        self.last_id: int | None = None  # None until the starting point is read
        self._reload = Reloader(ctx, self._look)
        ctx.events.tablesChanged.connect(self._on_tables)
        self._poll = QTimer(self, interval=POLL_MS)
        self._poll.timeout.connect(self._reload.request)

    def start(self) -> None:
        """From now on: alerts raised before the window opened are not news."""
        self._poll.start()
        self._reload.request()

    def _on_tables(self, tables: set[str]) -> None:
        if "alerts" in tables:
            self._reload.request()

    async def _look(self) -> None:
        if self.last_id is None:
            self.last_id = await self.service.latest_id()
            return
        fresh = await self.service.after(self.last_id)
        if not fresh:
            return
        self.last_id = fresh[-1].id
        self.model.add(fresh)
        self.raised.emit(fresh)

    def dismiss(self) -> None:
        """The person has seen them."""
        self.model.clear()

    def pending(self) -> list[AlertInfo]:
        return list(self.model.rows)
