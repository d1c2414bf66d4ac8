"""Logs tab controller: turns the filter widgets' values into a LogFilter, drives follow mode."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from titan_desktop.context import AppContext
from titan_desktop.logs.model import LogTableModel
from worker.services.logquery import LogFilter


class LogsController(QObject):
    projectsLoaded = Signal(object)  # list[tuple[int, str]] for the project filter

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = LogTableModel(ctx, parent=self)
        self.model.following = True
        ctx.events.tablesChanged.connect(self._on_tables)

    def start(self) -> None:
        self.model.set_filter(LogFilter())
        self.ctx.spawn(self._load_projects())

    def apply(self, *, level: str | None = None, project_id: int | None = None,
              job_id: int | None = None, text: str | None = None) -> None:
        flt = LogFilter(project_id=project_id, job_id=job_id, level=level or None,
                        text=(text or "").strip() or None)
        if flt != self.model.filter:
            self.model.set_filter(flt)

    def set_following(self, on: bool) -> None:
        self.model.following = on
        if on:
            self.model.catch_up()

    def _on_tables(self, tables: set[str]) -> None:
        if "log_entries" in tables and self.model.following:
            self.model.catch_up()
        if "projects" in tables:
            self.ctx.spawn(self._load_projects())

    async def _load_projects(self) -> None:
        names = await self.ctx.projects.names(500)
        if names != self.model.project_names:
            self.model.project_names = names
            if self.model.rows:
                self.model.dataChanged.emit(self.model.index(0, 2),
                                            self.model.index(len(self.model.rows) - 1, 2))
        self.projectsLoaded.emit(list(names.items()))
