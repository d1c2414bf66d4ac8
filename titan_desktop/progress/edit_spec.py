"""Edit spec…: the project's spec in the form its template's schema describes, then Save, or
Save and rebuild (worker.services.rebuild: a new build; the earlier one and its artifacts stay).

The controller saves on the qasync loop; the dialog (opened with ``open()``, never ``exec()``)
shows a rejected field's message under that field, as the Input tab's form does.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from titan_desktop.context import AppContext
from titan_desktop.input.schema_form import (
    SpecField,
    build_fields,
    error_label,
    read_spec,
    write_spec,
)
from worker.db.models import Project
from worker.errors import InvalidInput, TitanError
from worker.services.rebuild import RebuildService


class EditSpecController(QObject):
    """Saves a spec (and rebuilds) for one project; says how it went."""

    saved = Signal(bool, str)  # ok, a line for the person
    fieldError = Signal(str, str)  # "spec.features", message

    def __init__(self, ctx: AppContext, project: Project, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.project = project
        self.service = RebuildService(ctx.projects)
        self.template = ctx.projects.templates.get(project.template_ref)
        self.busy = False

    def schema(self) -> dict[str, Any] | None:
        return self.template.spec_schema

    def spec_from_form(self, form_spec: dict[str, Any]) -> dict[str, Any]:
        """The form's spec plus the stored keys the form has no field for (kept as they are)."""
        shown = set(((self.schema() or {}).get("properties") or {}).keys())
        kept = {k: v for k, v in (self.project.spec or {}).items() if k not in shown}
        return {**kept, **form_spec}

    def save(self, form_spec: dict[str, Any], *, rebuild: bool) -> None:
        if self.busy:
            return
        self.busy = True
        self.ctx.spawn(self._save(self.spec_from_form(form_spec), rebuild))

    async def _save(self, spec: dict[str, Any], rebuild: bool) -> None:
        try:
            project = await self.service.edit_spec(self.project.id, spec=spec)
            if rebuild:
                project, _job = await self.service.rebuild(project.id)
        except InvalidInput as exc:
            self.fieldError.emit(exc.field, exc.message)
            self.saved.emit(False, f"Not saved: {exc}")
            return
        except TitanError as exc:
            self.saved.emit(False, f"Not saved: {exc}")
            return
        finally:
            self.busy = False
        self.project = project
        self.saved.emit(True, f"Rebuilding {project.name}: build {project.build} is queued; "
                              "the earlier build stays in its history." if rebuild else
                              f"Saved the spec of {project.name}. Rebuild to build it.")


class EditSpecDialog(QDialog):
    def __init__(self, ctx: AppContext, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Edit spec — {project.name}")
        self.resize(620, 560)
        self.controller = EditSpecController(ctx, project, self)
        self.intro = intro = QLabel("")
        intro.setObjectName("hint")
        intro.setWordWrap(True)
        self._describe(project)
        form = QFormLayout()
        self.fields: list[SpecField] = build_fields(self.controller.schema(), form)
        write_spec(self.fields, project.spec or {})
        inner = QWidget()
        column = QVBoxLayout(inner)
        column.addLayout(form)
        column.addStretch(1)  # rows keep their height; the space goes below them
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        self.error = error_label()
        self.status = QLabel("")
        self.status.setObjectName("feedback")
        self.status.setWordWrap(True)
        self.rebuild_button = QPushButton("Save and rebuild")
        self.rebuild_button.setObjectName("saveAndRebuild")
        self.rebuild_button.setDefault(True)
        self.save_button = QPushButton("Save")
        self.close_button = QPushButton("Close")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.close_button, self.save_button, self.rebuild_button):
            buttons.addWidget(button)
        self.rebuild_button.clicked.connect(lambda: self._save(rebuild=True))
        self.save_button.clicked.connect(lambda: self._save(rebuild=False))
        self.close_button.clicked.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.error)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.controller.fieldError.connect(self._show_field_error)
        self.controller.saved.connect(self._on_saved)

    def _describe(self, project: Project) -> None:
        self.intro.setText(f"{project.name} · template {project.template_ref} · build "
                           f"{project.build}. Rebuilding runs the pipeline again from scaffold; "
                           "the earlier build, its runs and its artifacts stay in the history.")

    def _save(self, *, rebuild: bool) -> None:
        for field in self.fields:
            field.error.setVisible(False)
        self.error.setVisible(False)
        self.status.setText("Saving…")
        self.controller.save(read_spec(self.fields), rebuild=rebuild)

    def _show_field_error(self, path: str, message: str) -> None:
        # "spec.features[2]" belongs to the "spec.features" field.
        field = next((f for f in self.fields if path == f.path
                      or path.startswith((f.path + "[", f.path + "."))), None)
        label = field.error if field is not None else self.error
        label.setText(message if field is not None else f"{path}: {message}")
        label.setVisible(True)

    def _on_saved(self, ok: bool, message: str) -> None:
        self.status.setText(message if ok else "")
        if ok:
            self._describe(self.controller.project)
        if not ok and not self.error.isVisible() and not any(
                f.error.isVisible() for f in self.fields):
            self.error.setText(message)
            self.error.setVisible(True)
