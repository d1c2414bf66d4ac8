"""Output tab: artifacts per project, a preview of the built site, content approval (with the
model-written copy a person can edit before approving), and the AI rounds that wrote the
project's code (each round's files, coloured diff and check output)."""

from __future__ import annotations

import importlib
from html import escape
from pathlib import Path

from PySide6.QtCore import QAbstractItemModel, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from titan_desktop import fmt
from titan_desktop.context import AppContext
from titan_desktop.models import KEY_ROLE, ROW_ROLE
from titan_desktop.output.controller import OutputController
from titan_desktop.output.copyedit import CopyPanel
from titan_desktop.output.web import SitePreview
from titan_desktop.rounds.view import RoundsPanel
from worker.db.models import Artifact, Project


def _table(model: QAbstractItemModel, *, stretch_last: bool = True) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.verticalHeader().setVisible(False)
    view.setShowGrid(False)
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    view.horizontalHeader().setStretchLastSection(stretch_last)
    return view


class ProjectOutputPanel(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = c = OutputController(ctx, self)

        self.projects_view = _table(c.projects)
        self.projects_view.setObjectName("outputProjects")
        self.projects_view.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.Stretch)
        self.projects_view.horizontalHeader().setStretchLastSection(False)
        self.projects_view.selectionModel().selectionChanged.connect(self._on_project)
        c.projects.modelReset.connect(self._restore_selection)

        self.header = QLabel("Select a project to see what it produced.")
        self.header.setObjectName("outputHeader")
        self.header.setWordWrap(True)
        self.header.setOpenExternalLinks(True)

        # Content approval.
        self.approval_box = QGroupBox("Content approval")
        self.approval_info = QLabel("")
        self.approval_info.setWordWrap(True)
        self.comment = QLineEdit()
        self.comment.setPlaceholderText("Comment (stored with your decision)")
        self.approve_button = QPushButton("Approve and publish")
        self.approve_button.setObjectName("approveButton")
        self.reject_button = QPushButton("Reject")
        self.reject_button.setObjectName("rejectButton")
        self.approve_button.clicked.connect(lambda: self._decide("approved"))
        self.reject_button.clicked.connect(lambda: self._decide("rejected"))
        decide_row = QHBoxLayout()
        decide_row.addWidget(self.comment, 1)
        decide_row.addWidget(self.approve_button)
        decide_row.addWidget(self.reject_button)
        self.decisions_view = _table(c.decisions)
        self.decisions_view.setMaximumHeight(110)
        for column, width in enumerate((150, 140, 80)):
            self.decisions_view.setColumnWidth(column, width)
        approval_layout = QVBoxLayout(self.approval_box)
        approval_layout.addWidget(self.approval_info)
        approval_layout.addLayout(decide_row)
        approval_layout.addWidget(self.decisions_view)

        # The model-written copy, editable before approving (only when the project has some).
        self.copy_panel = CopyPanel()
        self.copy_panel.setMaximumHeight(330)
        self.copy_panel.saveRequested.connect(c.save_copy)
        c.copySaved.connect(self.copy_panel.saved)
        c.copyChanged.connect(self.copy_panel.show_copy)
        top_row = QHBoxLayout()
        top_row.setContentsMargins(0, 0, 0, 0)
        top_row.addWidget(self.copy_panel, 3)
        top_row.addWidget(self.approval_box, 2, Qt.AlignmentFlag.AlignTop)

        # Artifacts.
        self.artifacts_view = _table(c.artifacts)
        self.artifacts_view.setObjectName("artifactsTable")
        for column, width in enumerate((70, 200, 70, 80, 150)):
            self.artifacts_view.setColumnWidth(column, width)
        self.artifacts_view.doubleClicked.connect(lambda _index: self._open(False))
        self.open_button = QPushButton("Open")
        self.folder_button = QPushButton("Show in file manager")
        self.site_button = QPushButton("Open site in browser")
        self.open_button.clicked.connect(lambda: self._open(False))
        self.folder_button.clicked.connect(lambda: self._open(True))
        self.site_button.clicked.connect(c.open_site)
        self.feedback = QLabel("")
        self.feedback.setObjectName("feedback")
        c.message.connect(self.feedback.setText)
        buttons = QHBoxLayout()
        for button in (self.open_button, self.folder_button, self.site_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.feedback)

        self.preview = SitePreview()

        artifacts_box = QWidget()
        artifacts_layout = QVBoxLayout(artifacts_box)
        artifacts_layout.setContentsMargins(0, 0, 0, 0)
        artifacts_layout.addWidget(QLabel("<b>Artifacts</b>"))
        artifacts_layout.addWidget(self.artifacts_view, 1)
        artifacts_layout.addLayout(buttons)
        preview_box = QWidget()
        preview_layout = QVBoxLayout(preview_box)
        preview_layout.setContentsMargins(0, 0, 0, 0)
        preview_layout.addWidget(QLabel("<b>Preview of the built site</b>"))
        preview_layout.addWidget(self.preview, 1)
        right_split = QSplitter(Qt.Orientation.Vertical)
        right_split.addWidget(artifacts_box)
        right_split.addWidget(preview_box)

        # The AI rounds: a page of its own beside the artifacts and the preview.
        self.rounds = RoundsPanel(ctx)
        self.rounds.controller.model.modelReset.connect(self._label_rounds)
        self.rounds.controller.model.rowsInserted.connect(self._label_rounds)
        self.sections = QTabWidget()
        self.sections.setObjectName("outputSections")
        self.sections.setDocumentMode(True)
        self.sections.addTab(right_split, "Artifacts and preview")
        self.sections.addTab(self.rounds, "AI rounds")

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.header)
        right_layout.addLayout(top_row)
        right_layout.addWidget(self.sections, 1)

        split = QSplitter()
        split.addWidget(self.projects_view)
        split.addWidget(right)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 3)
        split.setSizes([260, 900])
        QVBoxLayout(self).addWidget(split)

        c.selectionChanged.connect(self._show_project)
        c.previewChanged.connect(self._show_preview)
        self._show_project(None)
        c.start()

    def _on_project(self) -> None:
        rows = self.projects_view.selectionModel().selectedRows()
        key = rows[0].data(KEY_ROLE) if rows else None
        self.controller.select(key)
        self.rounds.show_project(key)

    def _label_rounds(self) -> None:
        count = self.rounds.controller.model.rowCount()
        self.sections.setTabText(1, f"AI rounds ({count})" if count else "AI rounds")

    def _restore_selection(self) -> None:
        key = self.controller.selected_id
        row = self.controller.projects.row_for_key(key) if key is not None else -1
        if row >= 0:
            self.projects_view.selectRow(row)

    def select_project(self, project_id: int) -> None:
        row = self.controller.projects.row_for_key(project_id)
        if row >= 0:
            self.projects_view.selectRow(row)

    def _selected_artifact(self) -> Artifact | None:
        rows = self.artifacts_view.selectionModel().selectedRows()
        return rows[0].data(ROW_ROLE) if rows else None

    def _open(self, folder: bool) -> None:
        artifact = self._selected_artifact()
        if artifact is None:
            self.feedback.setText("Select an artifact first.")
            return
        self.controller.open_artifact(artifact, folder=folder)

    def _decide(self, decision: str) -> None:
        if self.copy_panel.isVisible() and self.copy_panel.dirty():
            self.copy_panel.status.setText("Save or undo your changes to the copy first: "
                                           "approving publishes the site as the preview shows it.")
            return
        self.controller.decide(decision, self.comment.text().strip())
        self.comment.clear()

    def _show_project(self, project: Project | None) -> None:
        self.rounds.note_status(project.status if project else None)
        has = project is not None
        for button in (self.open_button, self.folder_button):
            button.setEnabled(has)
        self.site_button.setEnabled(bool(project and project.url))
        if project is None:
            self.header.setText("Select a project to see what it produced.")
            self.approval_box.setVisible(False)
            return
        parts = [f"<b>{escape(project.name)}</b>", fmt.status_label(project.status)]
        if project.url:
            parts.append(f'<a href="{escape(project.url)}">{escape(project.url)}</a>')
        if project.published_at:
            parts.append(f"published {fmt.when(project.published_at)}")
        if project.flags:
            parts.append(f"flags: {escape(', '.join(map(str, project.flags)))}")
        self.header.setText(" · ".join(parts))
        waiting = project.status == "awaiting_approval"
        self.approval_box.setVisible(project.requires_approval or
                                     self.controller.decisions.rowCount() > 0)
        self.approve_button.setEnabled(waiting)
        self.reject_button.setEnabled(waiting)
        self.comment.setEnabled(waiting)
        if waiting:
            self.approval_info.setText(
                f"<b>{escape(project.name)}</b> passed verify and waits for your decision since "
                f"{fmt.when(project.awaiting_since)}. Approving publishes the site shown below; "
                "rejecting stops the project with your comment.")
        elif project.requires_approval and not self.controller.decisions.rowCount():
            self.approval_info.setText("This project requires approval before publishing; "
                                       "the buttons unlock once it has been verified.")
        else:
            self.approval_info.setText("Decisions recorded for this project:")

    def _show_preview(self, page: Path | None) -> None:
        if page is not None and page == self.preview.page_path:
            self.preview.reload()  # rendered again in place (an edited copy)
            return
        self.preview.show_page(page)


class OutputTab(QWidget):
    """Project output, plus the ops panel as a second sub-tab when that feature is installed."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.projects_panel = ProjectOutputPanel(ctx)
        self.ops_panel: QWidget | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        try:
            ops_view = importlib.import_module("titan_desktop.ops.view")
            panel_class = ops_view.OpsPanel
        except Exception:  # not installed (or broken): the projects panel alone
            layout.addWidget(self.projects_panel)
            return
        tabs = QTabWidget()
        tabs.setDocumentMode(True)
        tabs.addTab(self.projects_panel, "Projects")
        self.ops_panel = panel_class(ctx)
        tabs.addTab(self.ops_panel, "Ops (self-changes)")
        layout.addWidget(tabs)
