"""Progress tab controller: loads projects, the selected project's plan and jobs, runs actions."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices

from titan_desktop.context import AppContext
from titan_desktop.progress.models import JobsModel, PlanModel, projects_model
from titan_desktop.tasks import Reloader
from worker.db.models import Project
from worker.errors import TitanError

WATCHED = {"projects", "plan_items", "jobs", "runs"}


class ProgressController(QObject):
    message = Signal(str)  # a line for the person: action done or why it could not be
    selectionChanged = Signal(object)  # Project | None

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.projects = projects_model(self)
        self.plan = PlanModel(self)
        self.jobs = JobsModel(self)
        self.selected_id: int | None = None
        self.selected: Project | None = None
        self._projects = Reloader(ctx, self._load_projects)
        self._details = Reloader(ctx, self._load_details)
        ctx.events.tablesChanged.connect(self._on_tables)
        # Elapsed times tick even when nothing is written.
        self._tick = QTimer(self, interval=1000)
        self._tick.timeout.connect(self._tick_elapsed)
        self._tick.start()

    def start(self) -> None:
        self._projects.request()

    def _on_tables(self, tables: set[str]) -> None:
        if "projects" in tables:
            self._projects.request()
        if self.selected_id is not None and tables & WATCHED:
            self._details.request()

    async def _load_projects(self) -> None:
        self.projects.set_rows(await self.ctx.projects.list(limit=500))
        if self.selected_id is not None and self.projects.row_for_key(self.selected_id) < 0:
            self.select(None)

    def select(self, project_id: int | None) -> None:
        if project_id == self.selected_id:
            return
        self.selected_id = project_id
        if project_id is None:
            self.selected = None
            self.plan.set_roots([])
            self.jobs.set_roots([])
            self.selectionChanged.emit(None)
            return
        self._details.request()

    async def _load_details(self) -> None:
        project_id = self.selected_id
        if project_id is None:
            return
        try:
            project = await self.ctx.projects.get(project_id, details=True)
        except TitanError:
            return
        plan = await self.ctx.projects.plan(project_id)
        if project_id != self.selected_id:
            return
        self.selected = project
        self.plan.set_items(plan)
        self.jobs.set_jobs(list(project.jobs))
        self.selectionChanged.emit(project)

    def _tick_elapsed(self) -> None:
        rows = self.projects.rowCount()
        if rows and any(p.finished_at is None and p.started_at for p in self.projects.rows):
            self.projects.dataChanged.emit(self.projects.index(0, 4),
                                           self.projects.index(rows - 1, 4))

    # -- actions -------------------------------------------------------------------------------

    def retry(self) -> None:
        self._act("retry", lambda ref: self.ctx.projects.retry(ref), "queued again")

    def cancel(self) -> None:
        self._act("cancel", lambda ref: self.ctx.projects.cancel(ref), "cancelled")

    def delete(self) -> None:
        self._act("delete", lambda ref: self.ctx.projects.delete(ref), "deleted")

    def _act(self, name: str, call: object, done: str) -> None:
        project_id = self.selected_id
        if project_id is None:
            self.message.emit("Select a project first.")
            return

        async def run() -> None:
            try:
                await call(project_id)  # type: ignore[operator]  # `call` is typed object
            except TitanError as exc:
                self.message.emit(f"Could not {name}: {exc}")
                return
            label = self.selected.name if self.selected else f"project {project_id}"
            self.message.emit(f"{label}: {done}")
            self._projects.request()
            if name == "delete":
                self.select(None)
            else:
                self._details.request()

        self.ctx.spawn(run())

    def output_location(self) -> str | None:
        project = self.selected
        if project is None:
            return None
        if project.output_dir and Path(project.output_dir).exists():
            return project.output_dir
        work = self.ctx.settings.work_dir / project.slug
        return str(work) if work.exists() else None

    def open_output(self) -> None:
        location = self.output_location()
        if location is None:
            self.message.emit("This project has no output yet.")
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(location))
