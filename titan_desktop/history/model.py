"""The History view's table: per kind, how many attempts succeeded and failed in the period."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from titan_desktop.palette import DANGER, SERIES, TEXT
from worker.services.history import Throughput

HEADERS = ("Kind", "Succeeded", "Failed", "Failed %")
Index = QModelIndex | QPersistentModelIndex


def kind_colour(kinds: list[str], kind: str) -> QColor:
    """The kind's series colour: the same in every chart and in this table."""
    return QColor(SERIES[kinds.index(kind) % len(SERIES)])


class KindTotalsModel(QAbstractTableModel):
    """One row per kind seen in the period (alphabetical, as the charts stack them)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.kinds: list[str] = []
        self.rows: list[tuple[str, int, int]] = []

    def set_throughput(self, throughput: Throughput) -> None:
        rows = [(kind, throughput.total("succeeded", kind), throughput.total("failed", kind))
                for kind in throughput.kinds]
        if rows == self.rows:
            return  # a refresh that changed nothing keeps the selection and scroll
        self.beginResetModel()
        self.kinds = throughput.kinds
        self.rows = rows
        self.endResetModel()

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
        kind, ok, failed = self.rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return kind
            if column == 1:
                return f"{ok:,}"
            if column == 2:
                return f"{failed:,}"
            total = ok + failed
            return f"{100 * failed / total:.1f}" if total else ""
        if role == Qt.ItemDataRole.DecorationRole and column == 0:
            return kind_colour(self.kinds, kind)
        if role == Qt.ItemDataRole.ForegroundRole and column == 2:
            return QColor(DANGER if failed else TEXT)
        if role == Qt.ItemDataRole.TextAlignmentRole and column > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
