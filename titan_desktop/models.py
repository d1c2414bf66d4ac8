"""Small generic item models the tabs build on: a table of rows and a tree of nodes.

Rows are plain objects (dataclasses, ORM rows detached from their session); columns say how to
show them. ``set_rows`` keeps the view's selection and scroll position when only values change,
which is what happens on almost every live refresh.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)

Index = QModelIndex | QPersistentModelIndex
ROW_ROLE = Qt.ItemDataRole.UserRole + 1  # the row object itself
KEY_ROLE = Qt.ItemDataRole.UserRole + 2  # the row's stable key (its id)


@dataclass(frozen=True)
class Column:
    title: str
    text: Callable[[Any], Any]
    tooltip: Callable[[Any], str | None] | None = None
    align_right: bool = False
    foreground: Callable[[Any], Any] | None = None


class RowTableModel(QAbstractTableModel):
    def __init__(self, columns: Sequence[Column], key: Callable[[Any], Any] = lambda r: r.id,
                 parent: Any = None) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self.key = key
        self.rows: list[Any] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole
                and 0 <= section < len(self.columns)):
            return self.columns[section].title
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        row = self.rows[index.row()]
        column = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            value = column.text(row)
            return "" if value is None else value
        if role == Qt.ItemDataRole.ToolTipRole and column.tooltip is not None:
            return column.tooltip(row)
        if role == Qt.ItemDataRole.TextAlignmentRole and column.align_right:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and column.foreground is not None:
            return column.foreground(row)
        if role == ROW_ROLE:
            return row
        if role == KEY_ROLE:
            return self.key(row)
        return None

    def set_rows(self, rows: Sequence[Any]) -> None:
        rows = list(rows)
        if [self.key(r) for r in rows] == [self.key(r) for r in self.rows]:
            self.rows = rows
            if rows:
                self.dataChanged.emit(self.index(0, 0),
                                      self.index(len(rows) - 1, len(self.columns) - 1))
            return
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def row_for_key(self, key: Any) -> int:
        for i, row in enumerate(self.rows):
            if self.key(row) == key:
                return i
        return -1

    def row_at(self, row: int) -> Any | None:
        return self.rows[row] if 0 <= row < len(self.rows) else None


@dataclass
class Node:
    """One tree row: its column values, a payload, children."""

    values: list[Any]
    payload: Any = None
    children: list[Node] = field(default_factory=list)
    parent: Node | None = field(default=None, repr=False)
    tooltip: str | None = None

    def add(self, child: Node) -> Node:
        child.parent = self
        self.children.append(child)
        return child

    def row(self) -> int:
        return self.parent.children.index(self) if self.parent else 0


class TreeModel(QAbstractItemModel):
    def __init__(self, headers: Sequence[str], parent: Any = None) -> None:
        super().__init__(parent)
        self.headers = list(headers)
        self.root = Node([])

    def set_roots(self, nodes: Sequence[Node]) -> None:
        self.beginResetModel()
        self.root = Node([])
        for node in nodes:
            self.root.add(node)
        self.endResetModel()

    def append(self, node: Node, parent: Node | None = None) -> QModelIndex:
        """Add ``node`` as the last child of ``parent`` (a top-level row when None)."""
        parent = parent or self.root
        parent_index = (QModelIndex() if parent is self.root
                        else self.createIndex(parent.row(), 0, parent))
        row = len(parent.children)
        self.beginInsertRows(parent_index, row, row)
        parent.add(node)
        self.endInsertRows()
        return self.createIndex(row, 0, node)

    def refresh_node(self, node: Node) -> None:
        if node is self.root:
            return
        self.dataChanged.emit(self.createIndex(node.row(), 0, node),
                              self.createIndex(node.row(), len(self.headers) - 1, node))

    def node(self, index: Index) -> Node:
        return index.internalPointer() if index.isValid() else self.root

    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        parent_node = self.node(parent)
        if 0 <= row < len(parent_node.children) and 0 <= column < len(self.headers):
            return self.createIndex(row, column, parent_node.children[row])
        return QModelIndex()

    def parent(self, index: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008  # QObject.parent() overload
        if not index.isValid():
            return QModelIndex()
        node = self.node(index).parent
        if node is None or node is self.root:
            return QModelIndex()
        return self.createIndex(node.row(), 0, node)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self.node(parent).children)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return len(self.headers)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole
                and 0 <= section < len(self.headers)):
            return self.headers[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        node = self.node(index)
        if role == Qt.ItemDataRole.DisplayRole:
            value = node.values[index.column()] if index.column() < len(node.values) else ""
            return "" if value is None else value
        if role == Qt.ItemDataRole.ToolTipRole:
            return node.tooltip
        if role == ROW_ROLE:
            return node.payload
        return None
