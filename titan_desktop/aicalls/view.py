"""Views of the AI call ledger: the Logs tab's "AI calls" page and the per-project AI panel.

``LedgerController`` keeps the whole ledger's model current: new calls arrive live (the
``ai_calls`` table notifies like every other) and, should the listener be down, on a slow timer;
calls the planner made before its project existed get their project once it is created.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from titan_desktop.aicalls.model import AICallsModel
from titan_desktop.context import AppContext
from titan_desktop.elided_label import ElidedLabel
from worker.services.ai_calls import Usage

COLUMN_WIDTHS = (150, 150, 110, 170, 80, 80, 90, 90, 80)
REFRESH_MS = 5000  # the fallback when no notification arrives


def calls_table(model: AICallsModel, *, show_project: bool = True) -> QTableView:
    table = QTableView()
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setWordWrap(False)
    table.setShowGrid(False)
    table.setAlternatingRowColors(True)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    table.verticalHeader().setDefaultSectionSize(22)
    table.horizontalHeader().setStretchLastSection(True)
    time_width = table.fontMetrics().horizontalAdvance("2026-12-31 23:59:59") + 16
    for column, width in enumerate((time_width, *COLUMN_WIDTHS[1:])):
        table.setColumnWidth(column, width)
    table.setColumnHidden(1, not show_project)
    return table


class LedgerController(QObject):
    """The whole ledger (or one project's part of it) for the Logs tab."""

    projectsLoaded = Signal(object)  # list[tuple[int, str]]

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = AICallsModel(ctx, parent=self)
        ctx.events.tablesChanged.connect(self._on_tables)
        self._timer = QTimer(self, interval=REFRESH_MS)
        self._timer.timeout.connect(self.model.catch_up)

    def start(self) -> None:
        self.model.set_project(None)
        self.ctx.spawn(self._load_projects())

    def set_visible(self, shown: bool) -> None:
        """The fallback timer runs only while the ledger is on screen."""
        if shown:
            self.model.catch_up()
            self._timer.start()
        else:
            self._timer.stop()

    def show_project(self, project_id: int | None) -> None:
        if project_id != self.model.project_id:
            self.model.set_project(project_id)

    def _on_tables(self, tables: set[str]) -> None:
        if "ai_calls" in tables:
            self.model.catch_up()
        if "projects" in tables:
            self.ctx.spawn(self._load_projects())
            self.model.refresh_unfiled()

    async def _load_projects(self) -> None:
        names = await self.ctx.projects.names(500)
        self.model.set_project_names(names)
        self.projectsLoaded.emit(list(names.items()))


class LedgerView(QWidget):
    """Logs tab page: every AI call, newest first, filtered by project."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = LedgerController(ctx, self)
        model = self.controller.model
        self.project = QComboBox()
        self.project.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.project.setMinimumContentsLength(24)
        self.project.view().setTextElideMode(Qt.TextElideMode.ElideRight)
        self.project.addItem("All projects", None)
        self.counter = ElidedLabel("", minimum_chars=10)
        self.counter.setObjectName("aiCounter")
        hint = QLabel("Every call to the AI endpoint: what for, which model, tokens, time to "
                      "first token, total time, cost (when a price is set) and any error.")
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Project"))
        bar.addWidget(self.project)
        bar.addStretch(1)
        bar.addWidget(self.counter)
        self.table = calls_table(model)
        self.table.setObjectName("aiCallsTable")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(hint)
        layout.addWidget(self.table, 1)
        self.project.currentIndexChanged.connect(
            lambda _i: self.controller.show_project(self.project.currentData()))
        self.controller.projectsLoaded.connect(self._fill_projects)
        model.rowsInserted.connect(self._update_counter)
        model.modelReset.connect(self._update_counter)
        model.pageLoaded.connect(self._update_counter)
        self.controller.start()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.controller.set_visible(True)

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.controller.set_visible(False)

    def _fill_projects(self, projects: list[tuple[int, str]]) -> None:
        current = self.project.currentData()
        self.project.blockSignals(True)
        self.project.clear()
        self.project.addItem("All projects", None)
        for project_id, name in projects:
            self.project.addItem(f"{name} (#{project_id})", project_id)
        self.project.setCurrentIndex(max(0, self.project.findData(current)))
        self.project.blockSignals(False)

    def _update_counter(self) -> None:
        model = self.controller.model
        tokens = sum(r.tokens for r in model.rows)
        more = "" if model.exhausted else " + (scroll for more)"
        calls = len(model.rows)
        self.counter.setText(f"{calls:,} call{'' if calls == 1 else 's'}, {tokens:,} tokens{more}")


def usage_text(usage: Usage | None) -> str:
    if usage is None:
        return ""
    calls = f"{usage.calls:,} AI call{'' if usage.calls == 1 else 's'}"
    if usage.budget is None:
        return (f"{calls}, {usage.tokens:,} tokens used; no budget "
                f"(set TITAN_AI_MAX_TOKENS_PER_PROJECT to cap a project's tokens)")
    left = max(0, usage.budget - usage.tokens)
    text = (f"{calls}, {usage.tokens:,} of {usage.budget:,} tokens used "
            f"(TITAN_AI_MAX_TOKENS_PER_PROJECT); {left:,} left")
    if usage.tokens >= usage.budget:
        text += " — the budget is spent: further AI calls for this project stop"
    return text


class AIPanel(QWidget):
    """One project's AI calls and its tokens against the budget (the Progress tab shows it
    for the selected project; ``model`` is filled by the tab's controller)."""

    def __init__(self, model: AICallsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.usage_label = QLabel("")
        self.usage_label.setObjectName("aiUsage")
        self.usage_label.setWordWrap(True)
        self.budget = QProgressBar()
        self.budget.setObjectName("aiBudget")
        self.budget.setTextVisible(True)
        self.budget.setMinimumWidth(220)
        self.budget.setVisible(False)
        top = QHBoxLayout()
        top.addWidget(self.usage_label, 1)
        top.addWidget(self.budget)
        self.table = calls_table(model, show_project=False)
        self.table.setObjectName("projectAICalls")
        self.empty = QLabel("No AI calls for this project: it was made from a template, or "
                            "AI is off.")
        self.empty.setObjectName("hint")
        self.empty.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.empty)
        layout.addWidget(self.table, 1)
        model.modelReset.connect(self._update_empty)
        model.rowsInserted.connect(self._update_empty)
        model.pageLoaded.connect(self._update_empty)
        self.show_usage(None)

    def show_usage(self, usage: Usage | None) -> None:
        self.usage_label.setText(usage_text(usage) if usage else
                                 "Select a project to see its AI calls.")
        share = usage.share if usage else None
        self.budget.setVisible(share is not None)
        if usage is not None and share is not None and usage.budget:
            self.budget.setRange(0, usage.budget)
            self.budget.setValue(min(usage.tokens, usage.budget))
            self.budget.setFormat(f"{min(share, 9.99):.0%} of the budget")
        self._update_empty()

    def _update_empty(self) -> None:
        has_project = self.model.project_id is not None
        self.empty.setVisible(has_project and not self.model.rows and self.model.exhausted)
