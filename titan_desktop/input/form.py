"""The new-project form: controller (validates through ProjectService) and its view."""

from __future__ import annotations

import json
import re
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from titan_desktop.context import AppContext
from titan_desktop.elided_label import ElidedLabel
from titan_desktop.input.deploy_fields import DeployFields
from titan_desktop.input.schema_form import (
    SpecField,
    build_fields,
    error_label,
    read_spec,
    write_spec,
)
from worker.db.models import Project
from worker.errors import Conflict, InvalidInput, TitanError
from worker.templates import Template, TemplateRegistry

# Aliases the service may name a field by, mapped to the form's own names.
FIELD_ALIASES = {"templateRef": "template", "template_ref": "template", "body": "form",
                 "requiresApproval": "form", "requires_approval": "form"}


class FormController(QObject):
    """Creates projects from form values; reports errors per field; writes nothing on error."""

    fieldError = Signal(str, str)  # field path, message
    cleared = Signal()
    created = Signal(object)  # Project

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.registry = TemplateRegistry.from_settings(ctx.settings)
        self.busy = False

    def templates(self) -> list[Template]:
        return self.registry.all()

    def submit(self, body: dict[str, Any]) -> None:
        if self.busy:
            return
        self.busy = True
        self.cleared.emit()
        self.ctx.spawn(self._create(body))

    async def _create(self, body: dict[str, Any]) -> Project | None:
        try:
            project = await self.ctx.projects.create(body)
        except InvalidInput as exc:
            self.fieldError.emit(exc.field, exc.message)
            return None
        except Conflict as exc:
            self.fieldError.emit("name", str(exc))
            return None
        except TitanError as exc:
            self.fieldError.emit("form", str(exc))
            return None
        finally:
            self.busy = False
        self.created.emit(project)
        return project


class ProjectForm(QWidget):
    """Name, type, template; the template's spec fields (or JSON); approval; Create."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.controller = FormController(ctx, self)
        self.spec_fields: list[SpecField] = []
        self.errors: dict[str, QLabel] = {}

        self.name = QLineEdit()
        self.name.setObjectName("projectName")
        self.name.setPlaceholderText("e.g. Acme landing page")
        self.template = QComboBox()
        self.template.setObjectName("projectTemplate")
        self.type = QComboBox()
        self.type.setObjectName("projectType")
        self.type.setEditable(True)
        self.template_info = QLabel("")
        self.template_info.setWordWrap(True)
        self.template_info.setObjectName("hint")
        self.requires_approval = QCheckBox("Wait for my approval before publishing")
        self.requires_approval.setChecked(ctx.settings.require_approval)

        top = QFormLayout()
        top.addRow("Name *", self._with_error(self.name, "name"))
        top.addRow("Template", self._with_error(self.template, "template"))
        top.addRow("", self.template_info)
        top.addRow("Type", self._with_error(self.type, "type"))
        top.addRow("", self.requires_approval)
        self.deploy = DeployFields()
        top.addRow("Deploy to", self.deploy)

        self.spec_box = QGroupBox("Specification")
        self.spec_layout = QFormLayout(self.spec_box)

        self.json_box = QGroupBox("Edit the spec as JSON (advanced)")
        self.json_box.setCheckable(True)
        self.json_box.setChecked(False)
        self.json_edit = QPlainTextEdit()
        self.json_edit.setObjectName("specJson")
        self.json_edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.json_edit.setPlaceholderText('{"description": "...", "features": ["..."]}')
        self.json_edit.setMinimumHeight(120)
        json_layout = QVBoxLayout(self.json_box)
        json_layout.addWidget(self.json_edit)
        json_layout.addWidget(self._error("spec"))
        self.json_edit.setVisible(False)
        self.json_box.toggled.connect(self._toggle_json)

        self.create_button = QPushButton("Create project")
        self.create_button.setObjectName("createProject")
        self.create_button.setDefault(True)
        self.create_button.clicked.connect(self.submit)
        self.status = ElidedLabel("")  # a long name must not widen the window
        self.status.setObjectName("formStatus")
        form_error = self._error("form")
        buttons = QHBoxLayout()
        buttons.addWidget(self.create_button)
        buttons.addWidget(self.status, 1)

        inner = QWidget()
        column = QVBoxLayout(inner)
        column.addLayout(top)
        column.addWidget(self.spec_box)
        column.addWidget(self.json_box)
        column.addWidget(form_error)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll, 1)
        outer.addLayout(buttons)  # always in view, however long the spec fields get

        for template in self.controller.templates():
            self.template.addItem(f"{template.title or template.ref}  ({template.ref})",
                                  template.ref)
        default = self.template.findData("persona/basic")
        self.template.setCurrentIndex(max(0, default))
        self.template.currentIndexChanged.connect(self._on_template)
        self._on_template()

        c = self.controller
        c.fieldError.connect(self.show_error)
        c.cleared.connect(self.clear_errors)
        c.created.connect(self._on_created)

    # -- layout helpers ------------------------------------------------------------------------

    def _error(self, key: str) -> QLabel:
        label = error_label()
        self.errors[key] = label
        return label

    def _with_error(self, widget: QWidget, key: str) -> QWidget:
        holder = QWidget()
        column = QVBoxLayout(holder)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(widget)
        column.addWidget(self._error(key))
        return holder

    def selected_template(self) -> Template | None:
        ref = self.template.currentData()
        try:
            return self.controller.registry.get(ref) if ref else None
        except TitanError:
            return None

    def _on_template(self) -> None:
        template = self.selected_template()
        while self.spec_layout.rowCount():
            self.spec_layout.removeRow(0)
        for key in [k for k in self.errors if k.startswith("spec.")]:
            del self.errors[key]
        self.type.clear()
        if template is None:
            self.spec_fields = []
            return
        self.template_info.setText(template.description)
        self.deploy.set_template(tuple(getattr(template, "deploy_targets", ("local",))))
        for project_type in template.project_types:
            self.type.addItem(project_type)
        schema = getattr(template, "spec_schema", None)
        self.spec_fields = build_fields(schema if isinstance(schema, dict) else None,
                                        self.spec_layout)
        for field in self.spec_fields:
            self.errors[field.path] = field.error

    def _toggle_json(self, on: bool) -> None:
        self.json_edit.setVisible(on)
        self.spec_box.setEnabled(not on)
        if on:
            self.json_edit.setPlainText(json.dumps(read_spec(self.spec_fields), indent=2))
        else:
            try:
                spec = json.loads(self.json_edit.toPlainText() or "{}")
            except ValueError:
                return
            if isinstance(spec, dict):
                write_spec(self.spec_fields, spec)

    # -- submit --------------------------------------------------------------------------------

    def body(self) -> dict[str, Any] | None:
        """The project body, or None after showing why the JSON spec cannot be read."""
        if self.json_box.isChecked():
            try:
                spec = json.loads(self.json_edit.toPlainText() or "{}")
            except ValueError as exc:
                self.show_error("spec", f"not valid JSON: {exc}")
                return None
            if not isinstance(spec, dict):
                self.show_error("spec", "must be a JSON object")
                return None
        else:
            spec = read_spec(self.spec_fields)
        return {"name": self.name.text(), "type": self.type.currentText().strip() or "web-app",
                "templateRef": self.template.currentData() or "", "spec": spec,
                "requiresApproval": self.requires_approval.isChecked(), **self.deploy.value()}

    def submit(self) -> None:
        self.clear_errors()
        body = self.body()
        if body is not None:
            self.status.setText("Creating…")
            self.controller.submit(body)

    def clear_errors(self) -> None:
        for label in [*self.errors.values(), *self.deploy.errors.values()]:
            label.clear()
            label.setVisible(False)

    def show_error(self, field: str, message: str) -> None:
        """Put ``message`` under the widget ``field`` names (or its closest parent)."""
        self.status.setText("")
        key = FIELD_ALIASES.get(field, field)
        if self.json_box.isChecked() and key.startswith("spec"):
            key, message = "spec", f"{field.removeprefix('spec.')}: {message}"
        candidates = [key, re.sub(r"\[\d+\]", "", key)]
        while "." in candidates[-1]:
            candidates.append(candidates[-1].rsplit(".", 1)[0])
        errors = {**self.errors, **self.deploy.errors}
        label = next((errors[k] for k in candidates if k in errors), self.errors["form"])
        if label is self.errors["form"] and key != "form":
            message = f"{field}: {message}"
        label.setText(message)
        label.setVisible(True)

    def _on_created(self, project: Project) -> None:
        self.status.setText(f"Created {project.name} ({project.slug}); the worker picks it up.")
        self.name.clear()
        for field in self.spec_fields:
            field.write(None)
