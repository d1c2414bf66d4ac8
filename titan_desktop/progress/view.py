"""Progress tab: projects with their pipeline; the selected one's plan tree, jobs and runs."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import QItemSelection, Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from titan_desktop import fmt, palette
from titan_desktop.aicalls.view import AIPanel
from titan_desktop.context import AppContext
from titan_desktop.delegates import PipelineDelegate, ProgressDelegate
from titan_desktop.models import KEY_ROLE
from titan_desktop.progress.controller import ProgressController
from titan_desktop.progress.models import PIPELINE_COLUMN, PROGRESS_COLUMN
from worker.db.models import PROJECT_STATUSES, Project
from worker.services.rebuild import REBUILDABLE

SEARCH_DELAY_MS = 250  # typing settles before the list reloads


class ProgressTab(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = ProgressController(ctx, self)
        c = self.controller

        self.table = QTableView()
        self.table.setObjectName("projectsTable")
        self.table.setModel(c.projects)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setItemDelegateForColumn(PIPELINE_COLUMN, PipelineDelegate(self.table))
        self.table.setItemDelegateForColumn(PROGRESS_COLUMN, ProgressDelegate(self.table))
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(40)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((200, 190, 340, 110, 80)):
            self.table.setColumnWidth(column, width)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        c.projects.modelReset.connect(self._restore_selection)
        header.setSortIndicator(-1, Qt.SortOrder.DescendingOrder)  # newest first until clicked
        self.table.setSortingEnabled(True)  # a header click reloads in that order (the model)

        self.search = QLineEdit()
        self.search.setObjectName("projectSearch")
        self.search.setPlaceholderText("Search projects by name, slug or template…")
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(lambda: c.set_filter(search=self.search.text()))
        self.search.textChanged.connect(lambda _text: self._search_timer.start())
        self.status_filter = QComboBox()
        self.status_filter.setObjectName("projectStatusFilter")
        self.status_filter.addItem("All statuses", "")
        for status in PROJECT_STATUSES:
            self.status_filter.addItem(fmt.status_label(status), status)
        self.status_filter.currentIndexChanged.connect(
            lambda _i: c.set_filter(status=self.status_filter.currentData()))
        self.shown = QLabel("")
        self.shown.setObjectName("hint")
        c.projects.modelReset.connect(self._count_shown)
        filters = QHBoxLayout()
        filters.addWidget(self.search, 3)
        filters.addWidget(self.status_filter, 1)
        filters.addWidget(self.shown)

        self.summary = QLabel("Select a project to see its plan, jobs and runs.")
        self.summary.setObjectName("projectSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.retry_button = QPushButton("Retry failed step")
        self.cancel_button = QPushButton("Cancel")
        self.delete_button = QPushButton("Delete…")
        self.open_button = QPushButton("Open output")
        self.edit_button = QPushButton("Edit spec…")
        self.edit_button.setToolTip("Change the project's spec and build it again; the earlier "
                                    "build and its artifacts stay in its history")
        self.edit_button.clicked.connect(self._edit_spec)
        self.retry_button.clicked.connect(c.retry)
        self.cancel_button.clicked.connect(c.cancel)
        self.delete_button.clicked.connect(self._confirm_delete)
        self.open_button.clicked.connect(c.open_output)
        actions = QHBoxLayout()
        for button in (self.retry_button, self.cancel_button, self.delete_button,
                       self.open_button, self.edit_button):
            actions.addWidget(button)
        actions.addStretch(1)
        self.feedback = QLabel("")
        self.feedback.setObjectName("feedback")
        actions.addWidget(self.feedback)
        c.message.connect(self.feedback.setText)

        self.plan_view = QTreeView()
        self.plan_view.setModel(c.plan)
        self.plan_view.setUniformRowHeights(True)
        c.plan.modelReset.connect(self._expand_plan)
        self.jobs_view = QTreeView()
        self.jobs_view.setModel(c.jobs)
        self.jobs_view.setUniformRowHeights(True)
        c.jobs.modelReset.connect(self._fit_jobs)
        self.ai_panel = AIPanel(c.ai_calls)
        c.usageChanged.connect(self.ai_panel.show_usage)
        self.details_tabs = details_tabs = QTabWidget()
        details_tabs.addTab(self.plan_view, "Plan: features → milestones → goals")
        details_tabs.addTab(self.jobs_view, "Jobs and runs")
        details_tabs.addTab(self.ai_panel, "AI")

        details = QWidget()
        details_layout = QVBoxLayout(details)
        details_layout.setContentsMargins(0, 0, 0, 0)
        details_layout.addWidget(self.summary)
        details_layout.addLayout(actions)
        details_layout.addWidget(details_tabs, 1)

        listing = QWidget()
        listing_layout = QVBoxLayout(listing)
        listing_layout.setContentsMargins(0, 0, 0, 0)
        listing_layout.addLayout(filters)
        listing_layout.addWidget(self.table, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(listing)
        splitter.addWidget(details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        c.selectionChanged.connect(self._show_selected)
        self._show_selected(None)
        c.start()

    def _on_selection(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = self.table.selectionModel().selectedRows()
        self.controller.select(rows[0].data(KEY_ROLE) if rows else None)

    def _restore_selection(self) -> None:
        if self.controller.selected_id is None:
            self._show_selected(None)
        key = self.controller.selected_id
        row = self.controller.projects.row_for_key(key) if key is not None else -1
        if row >= 0:
            self.table.selectRow(row)

    def select_project(self, project_id: int) -> None:
        row = self.controller.projects.row_for_key(project_id)
        if row >= 0:
            self.table.selectRow(row)

    def _expand_plan(self) -> None:
        self.plan_view.expandToDepth(1)
        self.plan_view.setColumnWidth(0, 420)

    def _fit_jobs(self) -> None:
        self.jobs_view.expandAll()
        self.jobs_view.setColumnWidth(0, 180)

    def _show_selected(self, project: Project | None) -> None:
        has = project is not None
        status = project.status if project else ""
        self.retry_button.setEnabled(status in ("failed", "cancelled"))
        self.cancel_button.setEnabled(has and status not in ("published", "rejected", "failed",
                                                             "cancelled"))
        self.delete_button.setEnabled(has)
        self.open_button.setEnabled(has and self.controller.output_location() is not None)
        self.edit_button.setEnabled(status in REBUILDABLE)
        if project is None:
            self.summary.setText(
                "Select a project to see its plan, jobs and runs." if self.controller.projects
                .rowCount() else "No projects yet: create one on the Input tab, or tell Jason "
                "“create project NAME”.")
            return
        done, total = self.controller.plan.totals()
        parts = [f"<b>{escape(project.name)}</b> — {fmt.status_label(project.status)}",
                 f"template {project.template_ref}", f"plan {done}/{total} goals"]
        latest = self.controller.projects.rounds.get(project.id)
        if latest is not None:
            parts.append(f"AI {escape(latest.progress)}")
        if project.url:
            parts.append(f'<a href="{escape(project.url)}">{escape(project.url)}</a>')
        if project.last_error:
            error = escape(fmt.one_line(project.last_error))
            parts.append(f'<span style="color:{palette.DANGER}">{error}</span>')
        self.summary.setText(" · ".join(parts))
        self.summary.setOpenExternalLinks(True)

    def _count_shown(self) -> None:
        c = self.controller
        filtered = bool(c.search or c.status_filter)
        rows = c.projects.rowCount()
        self.shown.setText(f"{rows} match{'es' if rows != 1 else ''}" if filtered else "")

    def _edit_spec(self) -> None:
        from titan_desktop.progress.edit_spec import EditSpecDialog

        project = self.controller.selected
        if project is None:
            return
        self.edit_dialog = EditSpecDialog(self.controller.ctx, project, self)
        # Show the new spec and build at once, whether or not live events are on.
        self.edit_dialog.controller.saved.connect(
            lambda ok, _message: self.controller.refresh() if ok else None)
        self.edit_dialog.open()  # window-modal, never blocks the event loop

    def _confirm_delete(self) -> None:
        project = self.controller.selected
        if project is None:
            return
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self, "Delete project",
            f"Delete {project.name}?\n\nTitan stops its site or service, removes its work and "
            "output folders, and deletes its jobs, runs, plan and artifact records. This cannot "
            "be undone.", buttons.Yes | buttons.No, buttons.No)
        if answer == buttons.Yes:
            self.controller.delete()
