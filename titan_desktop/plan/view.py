"""The "Describe it" box: a name and a few words; "Plan it" streams the model's answer in, then the
plan is shown for review (template, spec, features → milestones → goals, all editable) with
"Build it" and "Discard"."""

from __future__ import annotations

import copy
import re
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QFontDatabase, QTextCursor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from titan_desktop.context import AppContext
from titan_desktop.elided_label import ElidedLabel
from titan_desktop.input.schema_form import SpecField, build_fields, error_label, write_spec
from titan_desktop.plan.controller import PlanController
from titan_desktop.plan.models import STEP_COLUMN, EditablePlanModel, StepDelegate
from worker.ai.planner import ProjectPlan
from worker.db.models import Project

EXAMPLE = "e.g. a website for my bakery with a menu page, opening hours and cake orders"


class DescribePanel(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = c = PlanController(ctx, self)
        self.spec_fields: list[SpecField] = []
        self.errors: dict[str, QLabel] = {}
        self._spec: dict[str, Any] = {}  # the proposed spec (keys without a field survive edits)

        self.ai_note = QLabel("")
        self.ai_note.setObjectName("aiNote")
        self.ai_note.setWordWrap(True)
        self.ai_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.name = QLineEdit()
        self.name.setObjectName("describeName")
        self.name.setPlaceholderText("e.g. Sunflower Bakery")
        self.description = QPlainTextEdit()
        self.description.setObjectName("describeText")
        self.description.setPlaceholderText(EXAMPLE)
        self.description.setFixedHeight(84)
        self.requires_approval = QCheckBox("Wait for my approval before publishing")
        self.requires_approval.setChecked(ctx.settings.require_approval)

        top = QFormLayout()
        top.addRow("Name *", self._with_error(self.name, "name"))
        top.addRow("Describe it *", self._with_error(self.description, "description"))
        top.addRow("", self.requires_approval)

        self.plan_button = QPushButton("Plan it")
        self.plan_button.setObjectName("planIt")
        self.plan_button.setDefault(True)
        self.plan_button.clicked.connect(self.plan_it)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelPlan")
        self.cancel_button.clicked.connect(c.cancel)
        self.status = ElidedLabel("")
        self.status.setObjectName("formStatus")
        buttons = QHBoxLayout()
        buttons.addWidget(self.plan_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.status, 1)
        self.error = self._error("form")

        self.stream = QPlainTextEdit()
        self.stream.setObjectName("planStream")
        self.stream.setReadOnly(True)
        self.stream.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.stream.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.stream.setMinimumHeight(140)
        self.stream_box = QGroupBox("The model's answer, as it arrives")
        QVBoxLayout(self.stream_box).addWidget(self.stream)

        self.review = self._build_review()

        inner = QWidget()
        column = QVBoxLayout(inner)
        column.addWidget(self.ai_note)
        column.addLayout(top)
        column.addLayout(buttons)
        column.addWidget(self.error)
        column.addWidget(self.stream_box, 1)
        column.addWidget(self.review, 1)
        column.addStretch(1)  # takes the room while neither the answer nor the review shows
        self._column = column
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll, 1)
        outer.addWidget(self.decide)

        c.stateChanged.connect(self._on_state)
        c.delta.connect(self._append)
        c.proposed.connect(self._show_plan)
        c.failed.connect(self._show_failure)
        c.fieldError.connect(self.show_error)
        c.message.connect(self.status.setText)
        c.created.connect(self._on_created)
        self._show_ai_state()
        self._on_state("idle")

    # -- layout --------------------------------------------------------------------------------

    def _build_review(self) -> QGroupBox:
        box = QGroupBox("Review the plan, then build it")
        box.setObjectName("planReview")
        self.template = QComboBox()
        self.template.setObjectName("planTemplate")
        for template in self.controller.templates():
            self.template.addItem(f"{template.title or template.ref}  ({template.ref})",
                                  template.ref)
        self.template_info = QLabel("")
        self.template_info.setObjectName("hint")
        self.template_info.setWordWrap(True)
        self.template.currentIndexChanged.connect(self._on_template)
        head = QFormLayout()
        holder = self._with_error(self.template, "template")
        holder_layout = holder.layout()
        if holder_layout is not None:
            holder_layout.addWidget(self.template_info)
        head.addRow("Template", holder)

        self.spec_box = QGroupBox("Specification")
        self.spec_layout = QFormLayout(self.spec_box)

        self.tree_model = EditablePlanModel(self)
        self.tree = QTreeView()
        self.tree.setObjectName("planTree")
        self.tree.setModel(self.tree_model)
        self.tree.setUniformRowHeights(True)
        self.tree.setMinimumHeight(300)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                  | QAbstractItemView.EditTrigger.EditKeyPressed
                                  | QAbstractItemView.EditTrigger.SelectedClicked)
        self.tree.setItemDelegateForColumn(STEP_COLUMN, StepDelegate(self.tree))
        self.tree.header().setStretchLastSection(False)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(STEP_COLUMN, QHeaderView.ResizeMode.Fixed)
        self.tree.setColumnWidth(STEP_COLUMN, 100)
        edit_row = QHBoxLayout()
        self.add_buttons: dict[str, QPushButton] = {}
        for kind in ("feature", "milestone", "goal"):
            button = QPushButton(f"Add {kind}")
            button.clicked.connect(lambda _c=False, k=kind: self.add_item(k))
            self.add_buttons[kind] = button
            edit_row.addWidget(button)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_item)
        edit_row.addWidget(self.remove_button)
        edit_row.addStretch(1)
        tree_hint = QLabel("Double-click a title to rename it; a goal's step is the pipeline "
                           "step whose success ticks it off.")
        tree_hint.setObjectName("hint")
        tree_hint.setWordWrap(True)
        self.tree.selectionModel().currentChanged.connect(self._update_edit_buttons)

        self.build_button = QPushButton("Build it")
        self.build_button.setObjectName("buildIt")
        self.build_button.clicked.connect(self.build)
        self.discard_button = QPushButton("Discard")
        self.discard_button.setObjectName("discardPlan")
        self.discard_button.clicked.connect(self.controller.discard)
        self.decide = QWidget()  # pinned under the scroll area: always in view
        decide = QHBoxLayout(self.decide)
        decide.setContentsMargins(0, 0, 0, 0)
        decide.addWidget(self.build_button)
        decide.addWidget(self.discard_button)
        self.build_status = ElidedLabel("")
        self.build_status.setObjectName("formStatus")
        decide.addWidget(self.build_status, 1)

        layout = QVBoxLayout(box)
        layout.addLayout(head)
        layout.addWidget(self.tree, 1)
        layout.addWidget(tree_hint)
        layout.addLayout(edit_row)
        layout.addWidget(self._error("plan"))
        layout.addWidget(self.spec_box)
        return box

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

    def _show_ai_state(self) -> None:
        reason = self.controller.off_reason()
        if reason is not None:
            self.ai_note.setText(f"{reason}; then restart Titan. Until then, “Fill in the "
                                 "form” creates projects from templates.")
            self.ai_note.setObjectName("fieldError")
        else:
            self.ai_note.setText("Say what you want in your own words; the AI picks the "
                                 "template, writes the spec and plans the features. You "
                                 "review the plan before anything is built. "
                                 + self.controller.model_note())
            self.ai_note.setObjectName("hint")
        self.ai_note.style().unpolish(self.ai_note)
        self.ai_note.style().polish(self.ai_note)

    # -- actions -------------------------------------------------------------------------------

    def plan_it(self) -> None:
        self.clear_errors()
        self.controller.plan_it(self.name.text(), self.description.toPlainText())

    def build(self) -> None:
        self.clear_errors()
        self._say_by_buttons("")
        self.controller.build(self.name.text(), self.template.currentData() or "",
                              self.current_spec(), self.tree_model.nodes(),
                              requires_approval=self.requires_approval.isChecked())

    def add_item(self, kind: str) -> None:
        index = self.tree_model.add(kind, self.tree.currentIndex())
        if index.isValid():
            self.tree.expand(index.parent())
            self.tree.setCurrentIndex(index)
            self.tree.edit(index)
        else:
            parent = "feature" if kind == "milestone" else "milestone"
            self.show_error("plan", f"select a {parent} (or an item in it) to add a {kind} to")

    def remove_item(self) -> None:
        self.tree_model.remove(self.tree.currentIndex())
        self._update_edit_buttons(self.tree.currentIndex(), QModelIndex())

    def current_spec(self) -> dict[str, Any]:
        """The proposed spec with the fields' values over it: a cleared field drops its key,
        keys no field shows are kept as the model wrote them."""
        spec = copy.deepcopy(self._spec)
        for field in self.spec_fields:
            if isinstance(field.widget, QGroupBox):
                continue  # a nested object: its own fields say what is in it
            value = field.read()
            parts = field.path.split(".")[1:]
            target: Any = spec
            for part in parts[:-1]:
                if not isinstance(target.get(part), dict):
                    target[part] = {}
                target = target[part]
            if value is None or value == "":
                target.pop(parts[-1], None)
            else:
                target[parts[-1]] = value
        return spec

    # -- controller signals --------------------------------------------------------------------

    def _on_state(self, state: str) -> None:
        off = self.controller.off_reason() is not None
        planning, review, building = (state == s for s in ("planning", "review", "building"))
        self.plan_button.setEnabled(state == "idle" and not off)
        self.plan_button.setToolTip(self.controller.off_reason() or "")
        self.cancel_button.setVisible(planning)
        self.name.setReadOnly(planning or building)
        self.description.setReadOnly(planning or building or review)
        self.review.setVisible(review or building)
        self.decide.setVisible(review or building)
        self.description.setFixedHeight(56 if review or building else 84)
        self.build_button.setEnabled(review)
        self.discard_button.setEnabled(review)
        if planning:
            self.stream.clear()
            self.stream_box.setVisible(True)
            self.status.setText("Planning… the model's answer streams in below.")
        elif review:
            self.stream_box.setVisible(False)
            self.status.setText("Review the plan below: edit anything, then Build it.")
            self._say_by_buttons("Nothing is created until you press Build it.")
        elif building:
            self._say_by_buttons("Creating…")
        else:
            self.stream_box.setVisible(bool(self.stream.toPlainText()))
        self._column.setStretch(self._column.count() - 1,
                                0 if self.stream_box.isVisibleTo(self)
                                or self.review.isVisibleTo(self) else 1)

    def _append(self, text: str) -> None:
        cursor = self.stream.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(text)
        self.stream.setTextCursor(cursor)
        self.stream.ensureCursorVisible()

    def _show_plan(self, plan: ProjectPlan) -> None:
        self._spec = copy.deepcopy(plan.spec)
        index = self.template.findData(plan.template)
        self.template.blockSignals(True)
        self.template.setCurrentIndex(max(0, index))
        self.template.blockSignals(False)
        self._rebuild_spec(self._spec)
        self.tree_model.set_plan(plan.nodes())
        self.tree.expandAll()
        self.tree.setCurrentIndex(self.tree_model.index(0, 0))

    def _on_template(self) -> None:
        if self.controller.state == "review":
            self._spec = self.current_spec()
        self._rebuild_spec(self._spec)

    def _rebuild_spec(self, spec: dict[str, Any]) -> None:
        ref = self.template.currentData()
        template = next((t for t in self.controller.templates() if t.ref == ref), None)
        while self.spec_layout.rowCount():
            self.spec_layout.removeRow(0)
        for key in [k for k in self.errors if k.startswith("spec.")]:
            del self.errors[key]
        self.template_info.setText(template.description if template else "")
        schema = getattr(template, "spec_schema", None) if template else None
        self.spec_fields = build_fields(schema if isinstance(schema, dict) else None,
                                        self.spec_layout)
        for field in self.spec_fields:
            self.errors[field.path] = field.error
        write_spec(self.spec_fields, spec)

    def _update_edit_buttons(self, current: QModelIndex, _previous: QModelIndex) -> None:
        kind = self.tree_model.kind(current)
        self.add_buttons["milestone"].setEnabled(kind is not None)
        self.add_buttons["goal"].setEnabled(kind in ("milestone", "goal"))
        self.remove_button.setEnabled(kind is not None)

    def _show_failure(self, message: str) -> None:
        if self.controller.state == "review":  # the build failed: say it by the buttons
            self.show_error("plan", message)
            return
        self.status.setText("Nothing was created.")
        self.show_error("form", message)

    def _say_by_buttons(self, text: str, *, error: bool = False) -> None:
        self.build_status.setText(text)
        self.build_status.setObjectName("fieldError" if error else "formStatus")
        self.build_status.style().unpolish(self.build_status)
        self.build_status.style().polish(self.build_status)

    def _on_created(self, _project: Project) -> None:
        self.name.clear()
        self.description.clear()
        self.stream.clear()
        self.stream_box.setVisible(False)
        self.tree_model.set_plan([])

    def clear_errors(self) -> None:
        for label in self.errors.values():
            label.clear()
            label.setVisible(False)

    def show_error(self, field: str, message: str) -> None:
        candidates = [field, re.sub(r"\[\d+\]", "", field)]
        while "." in candidates[-1]:
            candidates.append(candidates[-1].rsplit(".", 1)[0])
        label = next((self.errors[k] for k in candidates if k in self.errors), self.errors["form"])
        if label is self.errors["form"] and field != "form":
            message = f"{field}: {message}"
        label.setText(message)
        label.setVisible(True)
        if self.controller.state == "review":  # the field may be scrolled away: say it here
            self._say_by_buttons(message, error=True)
