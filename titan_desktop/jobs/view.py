"""Jobs view: every job across projects, filtered, sorted, paged as you scroll, acted on in bulk."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from titan_desktop.context import AppContext
from titan_desktop.elided_label import ElidedLabel
from titan_desktop.jobs.controller import VERBS, JobsController, Pending, question_text
from titan_desktop.jobs.delegate import JobCellDelegate
from worker.services.jobs import STATES, JobFilter

ANY = "Any"


class JobsView(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = JobsController(ctx, self)
        self.controller.is_shown = self.isVisible
        model = self.controller.model

        self.state = QComboBox()
        self.state.addItem("All states", None)
        for state in STATES:
            self.state.addItem(state, state)
        self.kind = _editable_combo("All kinds")
        self.project = QComboBox()
        self.project.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.project.setMinimumContentsLength(12)
        self.project.addItem("All projects", None)
        self.worker = _editable_combo("All workers")
        self.worker.setMinimumContentsLength(10)
        self.counter = ElidedLabel("", minimum_chars=8)
        self.counter.setObjectName("jobsCounter")

        bar = QHBoxLayout()
        for label, widget in (("State", self.state), ("Kind", self.kind),
                              ("Project", self.project), ("Worker", self.worker)):
            bar.addWidget(QLabel(label))
            bar.addWidget(widget)
        bar.addStretch(1)
        bar.addWidget(self.counter)

        self.table = QTableView()
        self.table.setObjectName("jobsTable")
        self.table.setModel(model)
        self.cells = JobCellDelegate(model, self.table)
        self.table.setItemDelegate(self.cells)
        model.rows_on_screen = self._rows_on_screen
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setWordWrap(False)
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSortIndicator(model.sort_column(), Qt.SortOrder.DescendingOrder)
        self.table.setSortingEnabled(True)  # header clicks call model.sort: sorted in SQL
        header.sortIndicatorChanged.connect(self._keep_indicator)
        # Narrow enough that the error still shows in an 800-pixel window.
        time_width = self.table.fontMetrics().horizontalAdvance("12-31 23:59:59") + 14
        for column, width in enumerate((58, 72, 72, 110, 74, 240, 115, time_width)):
            self.table.setColumnWidth(column, width)

        self.all_matching = QCheckBox("All matching")
        self.all_matching.setToolTip("Act on every job the filter matches, not only the "
                                     "selected rows")
        self.buttons: dict[str, QPushButton] = {}
        actions = QHBoxLayout()
        self.selected_label = QLabel("")
        actions.addWidget(self.selected_label)
        actions.addWidget(self.all_matching)
        for action, verb in VERBS.items():
            button = QPushButton(verb + "…")
            button.setObjectName(f"jobs{verb}")
            button.clicked.connect(lambda _c=False, a=action: self.ask(a))
            actions.addWidget(button)
            self.buttons[action] = button
        self.feedback = ElidedLabel("", minimum_chars=8)
        self.feedback.setObjectName("jobsFeedback")
        actions.addWidget(self.feedback, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        layout.addLayout(actions)

        # Typed kinds and workers wait for a pause; picking from a list applies at once.
        self._debounce = QTimer(self, singleShot=True, interval=300)
        self._debounce.timeout.connect(self._apply)
        self.state.currentIndexChanged.connect(self._apply)
        self.project.currentIndexChanged.connect(self._apply)
        for combo in (self.kind, self.worker):
            combo.currentTextChanged.connect(self._debounce.start)
        self.all_matching.toggled.connect(self._update_buttons)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        for signal in (model.modelReset, model.layoutChanged, model.rowsRemoved):
            signal.connect(self._update_buttons)
        self.controller.countChanged.connect(self._on_count)
        self.controller.optionsLoaded.connect(self._fill_options)
        # Queued: the question's own event loop must not run inside a coroutine's step.
        self.controller.confirmNeeded.connect(self._confirm, Qt.ConnectionType.QueuedConnection)
        self.controller.feedback.connect(self.feedback.setText)
        self._update_buttons()
        self.controller.start()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.FontChange:
            self.cells.forget_layouts()  # texts laid out in the old font
        super().changeEvent(event)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.controller.shown()

    def _rows_on_screen(self) -> int:
        """The last row on screen + 1 (what a live refresh must keep current)."""
        last = self.table.rowAt(self.table.viewport().height() - 1)
        return self.controller.model.rowCount() if last < 0 else last + 1

    # -- filter --------------------------------------------------------------------------------

    def current_filter(self) -> JobFilter:
        kind = self.kind.currentText().strip()
        worker = self.worker.currentText().strip()
        return JobFilter(state=self.state.currentData(),
                         kind=kind if kind and kind != "All kinds" else None,
                         project_id=self.project.currentData(),
                         worker=worker if worker and worker != "All workers" else None)

    def _apply(self) -> None:
        self.controller.apply(self.current_filter())

    def _fill_options(self, kinds: list[str], workers: list[str],
                      projects: dict[int, str]) -> None:
        _refill(self.kind, "All kinds", [(k, k) for k in kinds])
        _refill(self.worker, "All workers", [(w, w) for w in workers])
        current = self.project.currentData()
        self.project.blockSignals(True)
        self.project.clear()
        self.project.addItem("All projects", None)
        for project_id, name in projects.items():
            self.project.addItem(f"{name} (#{project_id})", project_id)
        self.project.setCurrentIndex(max(0, self.project.findData(current)))
        self.project.blockSignals(False)

    def _on_count(self, count: int) -> None:
        self.counter.setText("counting…" if count < 0 else
                             f"{count:,} matching job{'s' if count != 1 else ''}")
        self.all_matching.setText("All matching" if count < 0 else f"All {count:,} matching")

    def _keep_indicator(self, column: int, order: Qt.SortOrder) -> None:
        """A column that does not sort puts the indicator back where the sort is."""
        model = self.controller.model
        if column != model.sort_column():
            from titan_desktop.jobs.model import SORT_KEYS

            if column not in SORT_KEYS:
                current = (Qt.SortOrder.DescendingOrder if model.descending
                           else Qt.SortOrder.AscendingOrder)
                header = self.table.horizontalHeader()
                header.blockSignals(True)
                header.setSortIndicator(model.sort_column(), current)
                header.blockSignals(False)

    # -- actions -------------------------------------------------------------------------------

    def selected_ids(self) -> list[int]:
        rows = sorted(index.row() for index in self.table.selectionModel().selectedRows())
        return self.controller.model.ids_at(rows)

    def _update_buttons(self, *_args: object) -> None:
        selected = len(self.table.selectionModel().selectedRows())
        self.selected_label.setText(f"{selected:,} selected" if selected else "")
        enabled = self.all_matching.isChecked() or selected > 0
        for button in self.buttons.values():
            button.setEnabled(enabled)

    def ask(self, action: str) -> None:
        """Retry…, Discard…, Cancel…: on the selection, or on all matching jobs."""
        ids = None if self.all_matching.isChecked() else self.selected_ids()
        if ids is not None and not ids:
            return
        self.feedback.setText("Counting…")
        self.controller.request(action, ids)

    def _confirm(self, pending: Pending) -> None:
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(self, f"{VERBS[pending.action]} jobs",
                                      question_text(pending), buttons.Yes | buttons.No,
                                      buttons.No)
        if answer == buttons.Yes:
            self.feedback.setText("Working…")
            self.controller.perform(pending)
        else:
            self.feedback.setText("Nothing changed.")


def _editable_combo(everything: str) -> QComboBox:
    combo = QComboBox()
    combo.setEditable(True)
    combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(9)
    combo.addItem(everything, None)
    return combo


def _refill(combo: QComboBox, everything: str, items: list[tuple[str, str]]) -> None:
    """New choices; what is typed or chosen stays."""
    text = combo.currentText()
    combo.blockSignals(True)
    combo.clear()
    combo.addItem(everything, None)
    for label, value in items:
        combo.addItem(label, value)
    combo.setEditText(text or everything)
    combo.blockSignals(False)
