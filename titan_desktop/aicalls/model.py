"""The AI call ledger as a table: what each call was for, which model, tokens, times, cost, error.

``AICallsModel`` pages from the database newest first (keyset on id, like the log table): the
view asks for more rows as it scrolls, each page is one indexed query, and ``catch_up`` prepends
calls recorded since the newest one shown. The Logs tab shows the whole ledger with it; the
Progress tab's AI panel shows one project's calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor

from titan_desktop import fmt
from titan_desktop.context import AppContext
from titan_desktop.palette import DANGER, MUTED
from worker.services import ai_calls

Index = QModelIndex | QPersistentModelIndex
HEADERS = ("Time", "Project", "Purpose", "Model", "Tokens in", "Tokens out", "First token",
           "Total", "Cost", "Error")
PROJECT_COLUMN = 1
ERROR_COLUMN = 9
NUMERIC = frozenset({4, 5, 6, 7, 8})


@dataclass(frozen=True, slots=True)
class CallRow:
    id: int
    created_at: datetime | None
    project_id: int | None
    purpose: str
    model: str
    endpoint: str
    prompt_tokens: int | None
    completion_tokens: int | None
    ttft_ms: float | None
    total_ms: float | None
    cost: Decimal | None
    error: str | None

    @property
    def tokens(self) -> int:
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)


def call_row(call: Any) -> CallRow:
    return CallRow(call.id, call.created_at, call.project_id, call.purpose, call.model,
                   call.endpoint, call.prompt_tokens, call.completion_tokens,
                   call.time_to_first_token_ms, call.total_ms, call.cost, call.error)


def millis(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f} ms" if value < 10_000 else f"{value / 1000:,.1f} s"


def count(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


class AICallsModel(QAbstractTableModel):
    pageLoaded = Signal(int)  # rows in the page just loaded
    newRows = Signal(int)  # rows prepended by ``catch_up``

    def __init__(self, ctx: AppContext, *, page_size: int = 300, parent: Any = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.page_size = page_size
        self.project_id: int | None = None
        self.rows: list[CallRow] = []
        self.project_names: dict[int, str] = {}
        self.exhausted = False
        self.loading = False
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
            return self._text(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == ERROR_COLUMN and row.error:
                return row.error
            if column == 3:
                return f"{row.model} at {row.endpoint}"
            if column == 0 and row.created_at is not None:
                return row.created_at.astimezone().isoformat(timespec="seconds")
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and column in NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and row.error and column in (2, ERROR_COLUMN):
            return QColor(MUTED if row.error == "cancelled" else DANGER)
        return None

    def _text(self, row: CallRow, column: int) -> str:
        if column == 0:
            return fmt.when(row.created_at)
        if column == PROJECT_COLUMN:
            if row.project_id is None:
                return ""
            return self.project_names.get(row.project_id, f"#{row.project_id}")
        if column == 2:
            return row.purpose
        if column == 3:
            return row.model
        if column == 4:
            return count(row.prompt_tokens)
        if column == 5:
            return count(row.completion_tokens)
        if column == 6:
            return millis(row.ttft_ms)
        if column == 7:
            return millis(row.total_ms)
        if column == 8:
            return "" if row.cost is None else f"{row.cost:.4f}"
        return fmt.one_line(row.error, 200)

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and not self.exhausted and not self.loading

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if self.canFetchMore(parent):
            self.loading = True
            self.ctx.spawn(self._load_page(self._generation))

    # -- loading -------------------------------------------------------------------------------

    def set_project(self, project_id: int | None) -> None:
        """Start over showing one project's calls (None: every call); the first page loads."""
        self._generation += 1
        self.project_id = project_id
        self.beginResetModel()
        self.rows = []
        self.exhausted = False
        self.loading = False
        self.endResetModel()
        self.fetchMore()

    def reload(self) -> None:
        self.set_project(self.project_id)

    def clear(self) -> None:
        """Show nothing (no project selected) and load nothing."""
        self._generation += 1
        self.project_id = None
        self.beginResetModel()
        self.rows = []
        self.exhausted = True
        self.loading = False
        self.endResetModel()

    async def _load_page(self, generation: int) -> None:
        before = self.rows[-1].id if self.rows else None
        try:
            calls = await ai_calls.list_calls(self.ctx.db, project_id=self.project_id,
                                              limit=self.page_size, before_id=before)
        finally:
            if generation == self._generation:
                self.loading = False
        if generation != self._generation:
            return
        page = [call_row(c) for c in calls]
        if len(page) < self.page_size:
            self.exhausted = True
        if page:
            first = len(self.rows)
            self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
            self.rows.extend(page)
            self.endInsertRows()
        self.pageLoaded.emit(len(page))

    def catch_up(self) -> None:
        """Prepend calls recorded since the newest one shown."""
        if self._catching_up or self.loading or (not self.rows and not self.exhausted):
            return
        self._catching_up = True
        self.ctx.spawn(self._catch_up(self._generation))

    async def _catch_up(self, generation: int) -> None:
        try:
            newest = self.rows[0].id if self.rows else 0
            limit = self.page_size * 4
            calls = await ai_calls.list_calls(self.ctx.db, project_id=self.project_id,
                                              limit=limit, after_id=newest)
            if generation != self._generation or not calls:
                return
            if len(calls) == limit:  # far behind: start over from the newest page
                self.reload()
                return
            page = [call_row(c) for c in calls]
            self.beginInsertRows(QModelIndex(), 0, len(page) - 1)
            self.rows[0:0] = page
            self.endInsertRows()
            self.newRows.emit(len(page))
        finally:
            self._catching_up = False

    def refresh_unfiled(self) -> None:
        """Calls shown without a project may have been filed under one since (the planner's
        calls are, when the person builds the plan): read the newest page again for those."""
        if any(r.project_id is None for r in self.rows[: self.page_size]):
            self.ctx.spawn(self._refresh_unfiled(self._generation))

    async def _refresh_unfiled(self, generation: int) -> None:
        calls = await ai_calls.list_calls(self.ctx.db, project_id=self.project_id,
                                          limit=self.page_size)
        if generation != self._generation:
            return
        fresh = {c.id: call_row(c) for c in calls}
        for i, row in enumerate(self.rows[: self.page_size]):
            new = fresh.get(row.id)
            if new is not None and new != row:
                self.rows[i] = new
                self.dataChanged.emit(self.index(i, 0), self.index(i, len(HEADERS) - 1))

    def set_project_names(self, names: dict[int, str]) -> None:
        if names != self.project_names:
            self.project_names = names
            if self.rows:
                self.dataChanged.emit(self.index(0, PROJECT_COLUMN),
                                      self.index(len(self.rows) - 1, PROJECT_COLUMN))
