"""The Workers table: one row per worker; the heartbeat age ticks between reloads."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from titan_desktop import fmt
from titan_desktop.palette import DANGER, WARNING
from worker.services.workers import WorkerDetail

HEADERS = ("Worker", "Host", "PID", "Version", "Started", "Heartbeat", "Status", "Processed",
           "Failed", "Current jobs")
(ID, HOST, PID, VERSION, STARTED, HEARTBEAT, STATUS, PROCESSED, FAILED, JOBS) = range(10)
# A running worker beats every couple of seconds; older than this, its age shows as a warning.
STALE_SECONDS = 10.0
Index = QModelIndex | QPersistentModelIndex


class WorkersModel(QAbstractTableModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[WorkerDetail] = []
        self._read_at = time.monotonic()

    def set_workers(self, workers: list[WorkerDetail]) -> None:
        """Replace the rows; rows of the same workers in the same order are updated in place
        (the selection stays on its worker)."""
        self._read_at = time.monotonic()
        if [w.id for w in workers] == [w.id for w in self.rows]:
            self.rows = workers
            if workers:
                self.dataChanged.emit(self.index(0, 0),
                                      self.index(len(workers) - 1, len(HEADERS) - 1))
            return
        self.beginResetModel()
        self.rows = workers
        self.endResetModel()

    def tick(self) -> None:
        """Repaint the heartbeat ages (they grow while no reload comes)."""
        if self.rows:
            self.dataChanged.emit(self.index(0, HEARTBEAT),
                                  self.index(len(self.rows) - 1, HEARTBEAT))

    def worker(self, row: int) -> WorkerDetail | None:
        return self.rows[row] if 0 <= row < len(self.rows) else None

    def row_of(self, worker_id: str) -> int:
        return next((i for i, w in enumerate(self.rows) if w.id == worker_id), -1)

    def heartbeat_age(self, worker: WorkerDetail) -> float:
        """Seconds since the heartbeat: the database's figure at the read, plus time since."""
        return worker.age_seconds + time.monotonic() - self._read_at

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008  # Qt's signature
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008  # Qt's signature
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        worker = self.rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(worker, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == JOBS and worker.current_jobs:
                return "\n".join(_job_line(job) for job in worker.current_jobs)
            if column == STARTED:
                return worker.started_at.isoformat()
            if column == HEARTBEAT:
                return worker.last_heartbeat.isoformat()
            return None
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == STATUS:
                return fmt.status_color(worker.status)
            if column == HEARTBEAT and self._stale(worker):
                return QColor(WARNING)
            if column == FAILED and worker.jobs_failed:
                return QColor(DANGER)
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (PID, PROCESSED, FAILED):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _stale(self, worker: WorkerDetail) -> bool:
        return worker.status != "stopped" and self.heartbeat_age(worker) > STALE_SECONDS

    def _text(self, worker: WorkerDetail, column: int) -> str:
        if column == ID:
            return worker.id
        if column == HOST:
            return worker.host
        if column == PID:
            return str(worker.pid)
        if column == VERSION:
            return worker.version
        if column == STARTED:
            return fmt.when(worker.started_at)
        if column == HEARTBEAT:
            if worker.status == "stopped":
                return f"stopped {fmt.when(worker.stopped_at)}" if worker.stopped_at else "stopped"
            return f"{fmt.duration(self.heartbeat_age(worker))} ago"
        if column == STATUS:
            return fmt.status_label(worker.status)
        if column == PROCESSED:
            return f"{worker.processed:,}"
        if column == FAILED:
            return f"{worker.jobs_failed:,}"
        if column == JOBS:
            return ", ".join(f"#{job.id} {job.kind}" for job in worker.current_jobs)
        return ""


def _job_line(job: Any) -> str:
    project = f" (project #{job.project_id})" if job.project_id else ""
    return f"#{job.id} {job.kind}{project}, started {fmt.when(job.started_at)}"
