"""Logs tab: the structured log, filtered, paged from the database as you scroll; and the AI
call ledger (every call to the model, its tokens, times, cost and error) on its own page."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QIntValidator
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from titan_desktop.aicalls.view import LedgerView
from titan_desktop.context import AppContext
from titan_desktop.elided_label import ElidedLabel
from titan_desktop.logs.controller import LogsController
from worker.services.logquery import LEVELS


class LogsTab(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = LogsController(ctx, self)
        model = self.controller.model

        self.level = QComboBox()
        self.level.addItem("All levels", None)
        for level in LEVELS:
            self.level.addItem(f"{level} and above", level)
        self.project = QComboBox()
        # Sized for ~24 characters, not for the longest project name (that widened the window).
        self.project.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.project.setMinimumContentsLength(24)
        self.project.view().setTextElideMode(Qt.TextElideMode.ElideRight)
        self.project.addItem("All projects", None)
        self.job = QLineEdit()
        self.job.setPlaceholderText("Job id")
        self.job.setValidator(QIntValidator(1, 2**31 - 1, self.job))
        self.job.setMaximumWidth(90)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search messages…")
        self.search.setClearButtonEnabled(True)
        self.follow = QCheckBox("Follow")
        self.follow.setChecked(True)
        self.follow.setToolTip("Show new lines as they are written")
        self.counter = ElidedLabel("", minimum_chars=10)
        self.counter.setObjectName("logCounter")

        bar = QHBoxLayout()
        for label, widget in (("Level", self.level), ("Project", self.project),
                              ("Job", self.job)):
            bar.addWidget(QLabel(label))
            bar.addWidget(widget)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.follow)
        bar.addWidget(self.counter)

        self.table = QTableView()
        self.table.setObjectName("logTable")
        self.table.setModel(model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setStretchLastSection(True)
        time_width = self.table.fontMetrics().horizontalAdvance("2026-12-31 23:59:59.999") + 16
        for column, width in enumerate((time_width, 70, 160, 70, 200)):
            self.table.setColumnWidth(column, width)

        log_page = QWidget()
        log_layout = QVBoxLayout(log_page)
        log_layout.setContentsMargins(0, 4, 0, 0)
        log_layout.addLayout(bar)
        log_layout.addWidget(self.table, 1)
        self.ai_calls = LedgerView(ctx)
        self.pages = QTabWidget()
        self.pages.setObjectName("logPages")
        self.pages.setDocumentMode(True)
        self.pages.addTab(log_page, "Log lines")
        self.pages.addTab(self.ai_calls, "AI calls")
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages, 1)

        # Typing waits for a pause before querying; the other filters apply at once.
        self._debounce = QTimer(self, singleShot=True, interval=300)
        self._debounce.timeout.connect(self._apply)
        self.search.textChanged.connect(self._debounce.start)
        self.job.textChanged.connect(self._debounce.start)
        self.level.currentIndexChanged.connect(self._apply)
        self.project.currentIndexChanged.connect(self._apply)
        self.follow.toggled.connect(self.controller.set_following)
        self.controller.projectsLoaded.connect(self._fill_projects)
        model.rowsInserted.connect(self._update_counter)
        model.modelReset.connect(self._update_counter)
        model.newRows.connect(self._on_new_rows)
        self.controller.start()

    def _apply(self) -> None:
        job = self.job.text().strip()
        self.controller.apply(level=self.level.currentData(), project_id=self.project.currentData(),
                              job_id=int(job) if job else None, text=self.search.text())

    def _fill_projects(self, projects: list[tuple[int, str]]) -> None:
        current = self.project.currentData()
        self.project.blockSignals(True)
        self.project.clear()
        self.project.addItem("All projects", None)
        for project_id, name in projects:
            self.project.addItem(f"{name} (#{project_id})", project_id)
        index = self.project.findData(current)
        self.project.setCurrentIndex(max(0, index))
        self.project.blockSignals(False)

    def _update_counter(self) -> None:
        model = self.controller.model
        more = "" if model.exhausted else "+ (scroll for more)"
        self.counter.setText(f"{len(model.rows):,} lines {more}".strip())

    def _on_new_rows(self, count: int) -> None:
        if self.follow.isChecked() and self.table.verticalScrollBar().value() <= 2 * count + 2:
            self.table.scrollToTop()

    def focus_search(self) -> None:
        self.pages.setCurrentIndex(0)
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
