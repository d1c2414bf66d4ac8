"""Keeps one project's rounds current: loads them as a coroutine on the qasync loop and again when
a round is recorded (the ``ai_rounds`` insert trigger notifies ``titan_events``). While the
listener is down, the app's slow poll names every table but ``ai_rounds``, so a change to
``projects`` reloads the rounds then."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from titan_desktop.context import AppContext
from titan_desktop.rounds.model import RoundsModel, round_row
from titan_desktop.tasks import Reloader
from worker.services import ai_rounds


class RoundsController(QObject):
    loaded = Signal()  # the selected project's rounds are in the model (or it has none)

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = RoundsModel(self)
        self.project_id: int | None = None
        self.loaded_project: int | None = None  # whose rounds the model holds
        self._online = False
        self._reload = Reloader(ctx, self._load)
        ctx.events.tablesChanged.connect(self._on_tables)
        ctx.events.online.connect(self._on_online)

    def set_project(self, project_id: int | None) -> None:
        if project_id == self.project_id:
            return
        self.project_id = project_id
        self.loaded_project = None
        self.model.set_rows([])
        if project_id is None:
            self.loaded.emit()
            return
        self._reload.request()

    def reload(self) -> None:
        if self.project_id is not None:
            self._reload.request()

    def _on_online(self, online: bool) -> None:
        self._online = online

    def _on_tables(self, tables: set[str]) -> None:
        if "ai_rounds" in tables or ("projects" in tables and not self._online):
            self.reload()

    async def _load(self) -> None:
        project_id = self.project_id
        if project_id is None:
            return
        rows = await ai_rounds.list_rounds(self.ctx.db, project_id=project_id)
        if project_id != self.project_id:  # the person selected another project meanwhile
            return
        self.model.set_rows([round_row(r) for r in rows])
        self.loaded_project = project_id
        self.loaded.emit()
