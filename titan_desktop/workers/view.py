"""Workers view: the workers table and Pause / Resume / Stop for the selected worker. Thin: the
controller loads and sends, the model formats."""

from __future__ import annotations

from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from titan_desktop.context import AppContext
from titan_desktop.workers.controller import WorkersController
from titan_desktop.workers.model import HEADERS

# Which commands make sense in which status (a stopped worker takes none).
ALLOWED = {"running": {"pause", "stop"}, "paused": {"resume", "stop"}, "stopping": set(),
           "stopped": set(), "lost": {"stop"}}


class WorkersView(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("workersView")
        self.controller = WorkersController(ctx, self)
        model = self.controller.model
        self.table = QTableView()
        self.table.setObjectName("workersTable")
        self.table.setModel(model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(
            len(HEADERS) - 1, QHeaderView.ResizeMode.Stretch)

        self.buttons: dict[str, QPushButton] = {}
        bar = QHBoxLayout()
        for command in ("pause", "resume", "stop"):
            button = QPushButton(command.title())
            button.setObjectName(f"worker{command.title()}")
            button.setEnabled(False)
            button.clicked.connect(lambda _=False, c=command: self._send(c))
            bar.addWidget(button)
            self.buttons[command] = button
        self.status = QLabel("Select a worker to pause, resume or stop it.")
        self.status.setObjectName("workersStatus")
        bar.addSpacing(12)
        bar.addWidget(self.status, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(bar)

        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        model.modelReset.connect(self._update_buttons)
        model.dataChanged.connect(self._update_buttons)
        self.controller.message.connect(self.status.setText)

    def selected_id(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        worker = self.controller.model.worker(rows[0].row()) if rows else None
        return worker.id if worker else None

    def _update_buttons(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        worker = self.controller.model.worker(rows[0].row()) if rows else None
        allowed = ALLOWED.get(worker.status, set()) if worker else set()
        for command, button in self.buttons.items():
            button.setEnabled(command in allowed)

    def _send(self, command: str) -> None:
        worker_id = self.selected_id()
        if worker_id is not None:
            self.controller.send(worker_id, command)

    # Live only while shown: a hidden tab (or a closing window) queries nothing.
    def showEvent(self, event: QShowEvent) -> None:  # Qt's name
        super().showEvent(event)
        self.controller.start()

    def hideEvent(self, event: QHideEvent) -> None:  # Qt's name
        self.controller.stop()
        super().hideEvent(event)
