"""Progress tab controller: loads projects, the selected project's plan and jobs, runs actions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices

from titan_desktop.aicalls.model import AICallsModel
from titan_desktop.context import AppContext
from titan_desktop.progress.models import JobsModel, PlanModel, projects_model
from titan_desktop.selection import SelectionController
from titan_desktop.tasks import Reloader
from worker.db.models import PlanItem, Project
from worker.services import ai_calls, ai_rounds
from worker.services.ai_calls import Usage

WATCHED = {"projects", "plan_items", "jobs", "runs", "ai_calls", "ai_rounds"}
Details = tuple[Project, list[PlanItem], Usage]


class ProgressController(SelectionController):
    """The projects list, the selected project's plan, jobs and AI calls, and
    retry/cancel/delete."""

    usageChanged = Signal(object)  # the selected project's ai_calls.Usage, or None

    list_table = "projects"
    watched = frozenset(WATCHED)
    selected: Project | None

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(ctx, parent)
        self.projects = projects_model(self)
        self.plan = PlanModel(self)
        self.jobs = JobsModel(self)
        self.ai_calls = AICallsModel(ctx, parent=self)
        self._rounds = Reloader(ctx, self._load_rounds)
        self.search = ""
        self.status_filter = ""
        self.sort_key, self.descending = "created", True
        self.projects.sort_requested = self.set_sort
        # Elapsed times tick even when nothing is written.
        self._tick = QTimer(self, interval=1000)
        self._tick.timeout.connect(self._tick_elapsed)
        self._tick.start()

    async def _load_list(self) -> None:
        # Search, status filter and sort run in the database: they cover every project, not
        # only the 500 listed.
        self.projects.set_rows(await self.ctx.projects.list(
            limit=500, status=self.status_filter or None, search=self.search or None,
            sort=self.sort_key, descending=self.descending))
        if self.selected_id is not None and self.projects.row_for_key(self.selected_id) < 0:
            self.select(None)
        await self._load_rounds()

    async def _load_rounds(self) -> None:
        """The listed projects' latest AI rounds: one query, whatever the number of rows."""
        ids = [p.id for p in self.projects.rows]
        self.projects.set_rounds(await ai_rounds.latest_by_project(self.ctx.db, ids))

    def _on_tables(self, tables: set[str]) -> None:
        super()._on_tables(tables)
        if "ai_rounds" in tables and self.list_table not in tables:
            self._rounds.request()  # a round recorded: its line, without reloading the list

    async def _fetch_details(self, project_id: int) -> Details:
        project = await self.ctx.projects.get(project_id, details=True)
        plan = await self.ctx.projects.plan(project_id)
        usage = await ai_calls.usage(self.ctx.db, project_id,
                                     self.ctx.settings.ai_max_tokens_per_project)
        return project, plan, usage

    def _show_details(self, details: Details) -> Project:
        project, plan, usage = details
        self.plan.set_items(plan)
        self.jobs.set_jobs(list(project.jobs))
        if self.ai_calls.project_id != project.id:
            self.ai_calls.set_project(project.id)
        else:
            self.ai_calls.catch_up()
        self.usageChanged.emit(usage)
        return project

    def _clear_details(self) -> None:
        self.plan.set_roots([])
        self.jobs.set_roots([])
        self.ai_calls.clear()
        self.usageChanged.emit(None)

    def _tick_elapsed(self) -> None:
        rows = self.projects.rowCount()
        if rows and any(p.finished_at is None and p.started_at for p in self.projects.rows):
            self.projects.dataChanged.emit(self.projects.index(0, 4),
                                           self.projects.index(rows - 1, 4))

    # -- search, filter, sort --------------------------------------------------------------------

    def set_filter(self, search: str | None = None, status: str | None = None) -> None:
        """Show only projects matching ``search`` (name, slug, template) and ``status`` ("" for
        all); None leaves that part as it is."""
        changed = False
        if search is not None and search.strip() != self.search:
            self.search, changed = search.strip(), True
        if status is not None and status != self.status_filter:
            self.status_filter, changed = status, True
        if changed:
            self._list.request()

    def refresh(self) -> None:
        """Load the list and the selected project again (after an edit made here)."""
        self._list.request()
        self._details.request()

    def set_sort(self, key: str, descending: bool) -> None:
        if (key, descending) != (self.sort_key, self.descending):
            self.sort_key, self.descending = key, descending
            self._list.request()

    # -- actions -------------------------------------------------------------------------------

    def retry(self) -> None:
        self._act("retry", lambda ref: self.ctx.projects.retry(ref), "queued again")

    def cancel(self) -> None:
        self._act("cancel", lambda ref: self.ctx.projects.cancel(ref), "cancelled")

    def delete(self) -> None:
        self._act("delete", lambda ref: self.ctx.projects.delete(ref), "deleted")

    def _act(self, name: str, call: Callable[[int], Awaitable[object]], done: str) -> None:
        def finished(project_id: int, _: object) -> None:
            label = self.selected.name if self.selected else f"project {project_id}"
            self.message.emit(f"{label}: {done}")
            self._list.request()
            if name == "delete":
                self.select(None)
            else:
                self._details.request()

        self._act_on_selected(call, failed=f"Could not {name}", done=finished,
                              unselected="Select a project first.")

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
