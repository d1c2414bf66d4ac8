"""The structured log as a table model that pages from the database (keyset on id).

Newest first. The view asks for more rows as it scrolls (``canFetchMore``/``fetchMore``); each
page is one indexed query ``WHERE id < :last ORDER BY id DESC LIMIT n``, so the millionth row
costs the same as the first and the model only holds what was scrolled past. Follow mode
prepends lines written since the newest one shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor

from titan_desktop import fmt
from titan_desktop.context import AppContext
from worker.services.logquery import LogFilter

Index = QModelIndex | QPersistentModelIndex
HEADERS = ("Time", "Level", "Project", "Job", "Worker", "Message")
MESSAGE_COLUMN = 5


@dataclass(frozen=True, slots=True)
class LogRow:
    id: int
    ts: datetime
    level: str
    project_id: int | None
    job_id: int | None
    worker_id: str | None
    message: str
    extra: dict[str, Any]


class LogTableModel(QAbstractTableModel):
    pageLoaded = Signal(int)  # rows in the page just loaded (tests and the status line wait on it)
    newRows = Signal(int)  # rows prepended by follow mode

    def __init__(self, ctx: AppContext, *, page_size: int = 500, parent: Any = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.page_size = page_size
        self.filter = LogFilter()
        self.rows: list[LogRow] = []
        self.project_names: dict[int, str] = {}
        self.exhausted = False
        self.loading = False
        self.following = False
        self._generation = 0
        self._catching_up = False

    # -- Qt model ------------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        row = self.rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return log_time(row.ts)
            if column == 1:
                return row.level
            if column == 2:
                if row.project_id is None:
                    return ""
                return self.project_names.get(row.project_id, f"#{row.project_id}")
            if column == 3:
                return "" if row.job_id is None else f"#{row.job_id}"
            if column == 4:
                return row.worker_id or ""
            return row.message
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == 0:
                return row.ts.astimezone().isoformat(timespec="microseconds")
            if column == MESSAGE_COLUMN:
                extra = "\n".join(f"{k}: {v}" for k, v in (row.extra or {}).items())
                return row.message + (f"\n\n{extra}" if extra else "")
        if role == Qt.ItemDataRole.ForegroundRole and column in (1, MESSAGE_COLUMN):
            color = fmt.LEVEL_COLORS.get(row.level)
            return QColor(color) if color else None
        return None

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and not self.exhausted and not self.loading

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if self.canFetchMore(parent):
            self.loading = True
            self.ctx.spawn(self._load_page(self._generation))

    # -- loading -------------------------------------------------------------------------------

    def set_filter(self, flt: LogFilter) -> None:
        """Start over with a new filter (the first page loads at once)."""
        self._generation += 1
        self.filter = flt
        self.beginResetModel()
        self.rows = []
        self.exhausted = False
        self.loading = False
        self.endResetModel()
        self.fetchMore()

    def reload(self) -> None:
        self.set_filter(self.filter)

    async def _load_page(self, generation: int) -> None:
        before = self.rows[-1].id if self.rows else None
        try:
            entries = await self.ctx.logs.query(self.filter, limit=self.page_size,
                                                before_id=before)
        finally:
            if generation == self._generation:
                self.loading = False
        if generation != self._generation:
            return  # the filter changed while we waited
        page = [_row(e) for e in entries]
        if len(page) < self.page_size:
            self.exhausted = True
        if page:
            first = len(self.rows)
            self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
            self.rows.extend(page)
            self.endInsertRows()
        self.pageLoaded.emit(len(page))

    def catch_up(self) -> None:
        """Follow mode: prepend lines newer than the newest shown."""
        if self._catching_up or self.loading or (not self.rows and not self.exhausted):
            return
        self._catching_up = True
        self.ctx.spawn(self._catch_up(self._generation))

    async def _catch_up(self, generation: int) -> None:
        try:
            newest = self.rows[0].id if self.rows else 0
            limit = self.page_size * 4
            entries = await self.ctx.logs.query(self.filter, limit=limit, after_id=newest,
                                                newest_first=False)
            if generation != self._generation or not entries:
                return
            if len(entries) == limit:  # too far behind: start over from the newest page
                self.reload()
                return
            page = [_row(e) for e in reversed(entries)]
            self.beginInsertRows(QModelIndex(), 0, len(page) - 1)
            self.rows[0:0] = page
            self.endInsertRows()
            self.newRows.emit(len(page))
        finally:
            self._catching_up = False


def log_time(ts: datetime) -> str:
    """Local date and time to the millisecond. Always with the date: a log spans days, and a
    line from yesterday must never read like one from today (nor change look at midnight)."""
    return ts.astimezone().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _row(entry: Any) -> LogRow:
    return LogRow(entry.id, entry.ts, entry.level, entry.project_id, entry.job_id,
                  entry.worker_id, entry.message, entry.extra or {})
