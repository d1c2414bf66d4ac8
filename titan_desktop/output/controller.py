"""Output tab controller: a project's artifacts, its site preview, content approval, and the
model-written copy a person can edit before approving (``worker.services.copy``)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices

from titan_desktop import fmt
from titan_desktop.context import AppContext
from titan_desktop.models import Column, RowTableModel
from titan_desktop.selection import SelectionController, current_user
from worker.db.models import Approval, Artifact, Project
from worker.errors import TitanError
from worker.services.copy import CopyService, ProjectCopy
from worker.services.principals import os_user

WATCHED = {"projects", "artifacts", "approvals"}
_Details = tuple[Project, list[Artifact], list[Approval], ProjectCopy | None]


def _location(a: Artifact) -> str:
    return a.uri or a.path or ""


class OutputController(SelectionController):
    """The projects list, the selected project's artifacts and decisions, and its preview."""

    previewChanged = Signal(object)  # Path | None: the index.html to show
    # ProjectCopy | None: the selected project's model-written copy (None: it has none)
    copyChanged = Signal(object)
    copySaved = Signal(bool, str)  # a copy edit: saved?, the line to show beside the fields
    list_table = "projects"
    watched = frozenset(WATCHED)
    selected: Project | None

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(ctx, parent)
        self.projects = RowTableModel([
            Column("Project", lambda p: p.name),
            Column("Status", lambda p: fmt.status_label(p.status),
                   foreground=lambda p: fmt.status_color(p.status)),
        ], parent=self)
        self.artifacts = RowTableModel([
            Column("Kind", lambda a: a.kind),
            Column("Name", lambda a: a.name),
            Column("Step", lambda a: a.step or ""),
            Column("Size", lambda a: fmt.size(a.size_bytes), align_right=True),
            Column("SHA-256", lambda a: (a.sha256 or "")[:16] + ("…" if a.sha256 else ""),
                   tooltip=lambda a: a.sha256),
            Column("Location", _location, tooltip=_location),
        ], parent=self)
        self.decisions = RowTableModel([
            Column("When", lambda d: fmt.when(d.created_at)),
            Column("Who", lambda d: f"{d.decided_by}" + (f" ({d.actor})" if d.actor else "")),
            Column("Decision", lambda d: d.decision,
                   foreground=lambda d: fmt.status_color(
                       "published" if d.decision == "approved" else "rejected")),
            Column("Comment", lambda d: d.comment, tooltip=lambda d: d.comment),
        ], parent=self)
        self.copies = CopyService(ctx.projects.db, ctx.projects.templates, ctx.settings)
        self.saving = False

    async def _load_list(self) -> None:
        self.projects.set_rows(await self.ctx.projects.list(limit=500))

    async def _fetch_details(self, project_id: int) -> _Details:
        project = await self.ctx.projects.get(project_id)
        artifacts = await self.ctx.projects.artifacts(project_id)
        decisions = await self.ctx.projects.approvals(project_id)
        copy = await self.copies.get(project_id)
        return project, artifacts, decisions, copy

    def _show_details(self, details: _Details) -> Project:
        project, artifacts, decisions, copy = details
        changed = self.selected is None or self.selected.updated_at != project.updated_at
        self.artifacts.set_rows(artifacts)
        self.decisions.set_rows(decisions)
        if changed:
            self.previewChanged.emit(self.preview_page(project, artifacts))
        self.copyChanged.emit(copy)
        return project

    def _clear_details(self) -> None:
        self.artifacts.set_rows([])
        self.decisions.set_rows([])
        self.previewChanged.emit(None)
        self.copyChanged.emit(None)

    def preview_page(self, project: Project, artifacts: list[Artifact]) -> Path | None:
        """The built site's index.html: what is (or would be) published."""
        candidates = [Path(a.path) / "index.html" for a in artifacts
                      if a.kind == "site" and a.path]
        if project.output_dir:
            candidates.append(Path(project.output_dir) / "index.html")
        candidates.append(self.ctx.settings.work_dir / project.slug / "dist" / "index.html")
        return next((c for c in candidates if c.is_file()), None)

    # -- actions -------------------------------------------------------------------------------

    def decide(self, decision: str, comment: str) -> None:
        def done(_: int, project: Project) -> None:
            verb = "Approved: publishing" if decision == "approved" else "Rejected"
            self.message.emit(f"{verb} {project.name}.")
            self._details.request()

        self._act_on_selected(
            lambda project_id: self.ctx.projects.decide(
                project_id, decision, decided_by="person", actor=current_user(), comment=comment),
            failed="Could not record the decision", done=done)

    def save_copy(self, changes: dict[str, str]) -> None:
        """Save a person's edit of the selected project's copy (the site is rendered again in
        the service, off the UI thread); ``copySaved`` reports the outcome."""
        key = self.selected_id
        if key is None or self.saving:
            return
        if not changes:
            self.copySaved.emit(False, "Nothing to save: no field was changed.")
            return
        self.saving = True
        user = current_user()

        async def run() -> None:
            try:
                saved = await self.copies.save(key, changes, actor=user, principal=os_user())
            except TitanError as exc:
                self.copySaved.emit(False, f"Not saved: {exc}")
                return
            except Exception as exc:  # a file it could not write, a build that broke
                self.copySaved.emit(False, f"Not saved: {type(exc).__name__}: {exc}")
                return
            finally:
                self.saving = False
            fields = ", ".join(saved.changed) or "nothing"
            self.copySaved.emit(True, f"Saved {fields}; the preview shows the site as it "
                                      "will be published.")
            self._details.request()

        self.ctx.spawn(run())

    def open_artifact(self, artifact: Artifact, *, folder: bool = False) -> None:
        if artifact.uri and not folder:
            QDesktopServices.openUrl(QUrl(artifact.uri))
            return
        if not artifact.path:
            self.message.emit("This artifact has no file.")
            return
        path = Path(artifact.path)
        target = path.parent if folder and path.is_file() else path
        if not target.exists():
            self.message.emit(f"{target} no longer exists.")
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(target)))

    def open_site(self) -> None:
        project = self.selected
        if project is not None and project.url:
            QDesktopServices.openUrl(QUrl(project.url))
        else:
            self.message.emit("This project has no deployed URL yet.")

