"""Every job across projects as a table model that pages from the database (keyset).

The view asks for more rows as it scrolls (``canFetchMore``/``fetchMore``); each page is one
``JobService.page`` call starting after the last row's (sort value, id), so the millionth row
costs what the first does and the model holds only what was scrolled past. ``refresh`` (live
updates) re-reads the head of the list and applies the difference as row insertions, removals
and changed cells (a full re-layout only when jobs changed places), so the selection follows its
jobs and the view repaints only what changed. ``JobCellDelegate`` (delegate.py) paints from
``text``/``foreground`` without asking ``data`` role by role.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor

from titan_desktop import fmt
from titan_desktop.context import AppContext
from worker.services.jobs import JobFilter, JobRow, JobService

Index = QModelIndex | QPersistentModelIndex
# The error comes before the worker and the times: in a narrow window it is what a dead job
# is about.
HEADERS = ("#", "Kind", "State", "Project", "Attempts", "Error", "Worker", "Due", "Updated")
# Header column -> sort key of JobService.page (columns not listed do not sort).
SORT_KEYS = {0: "id", 1: "kind", 4: "attempts", 7: "runAt", 8: "updatedAt"}
ERROR_COLUMN = 5
STATE_COLORS = {"retrying": "paused", "scheduled": "queued"}  # colour like the status named
# Live refresh re-reads at most this many rows from the top; rows further down keep their
# last known state until scrolled past again.
LIVE_WINDOW = 2000
# ... and at least this many (or all loaded), even when fewer are on screen.
LIVE_MINIMUM = 100
# More separate insertions/removals than this in one refresh: one re-layout instead.
MAX_RUNS = 16


class JobTableModel(QAbstractTableModel):
    pageLoaded = Signal(int)  # rows in the page just loaded
    refreshed = Signal()  # a live refresh finished

    def __init__(self, ctx: AppContext, service: JobService, *, page_size: int = 200,
                 parent: Any = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.service = service
        self.page_size = page_size
        self.filter = JobFilter()
        self.sort_key = "id"
        self.descending = True
        self.rows: list[JobRow] = []
        # Each row's cell texts, made when first painted and kept for that row version: a
        # paint asks for thousands, and a page of rows arriving should not format them all.
        self.texts: list[tuple[str, ...] | None] = []
        self.exhausted = False
        self.loading = False
        self._generation = 0
        self.refreshing = False
        # The view says how many rows from the top it shows (the last visible row + 1): a live
        # refresh re-reads those and a margin, not every loaded row.
        self.rows_on_screen: Callable[[], int] = lambda: self.page_size

    # -- Qt model ------------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return "Click to sort" if section in SORT_KEYS else "Not sortable"
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(index.row(), column)
        row = self.rows[index.row()]
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == ERROR_COLUMN and row.last_error:
                return row.last_error[:2000]
            if column == 2:
                return f"status {row.status}, attempt {row.attempts} of {row.max_attempts}"
            if column == 7:
                return "due " + fmt.when(row.run_at)
            if column == 8:
                return "changed " + fmt.when(row.updated_at)
        if role == Qt.ItemDataRole.ForegroundRole:
            return self.foreground(index.row(), column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (0, 4):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return row.id
        return None

    def text(self, row: int, column: int) -> str:
        """The cell's text (formatted when first asked for, kept for that row version)."""
        texts = self.texts[row]
        if texts is None:
            texts = self.texts[row] = _texts(self.rows[row])
        return texts[column]

    def foreground(self, row: int, column: int) -> QColor | None:
        """The cell's text colour, or None for the view's own."""
        if column == 2:
            return _color(self.rows[row].state)
        if column == ERROR_COLUMN:
            return _color("dead")
        return None

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and not self.exhausted and not self.loading

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if self.canFetchMore(parent):
            self.loading = True
            self.ctx.spawn(self._load_page(self._generation))

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Header clicks: sort in the database (only the columns in SORT_KEYS)."""
        key = SORT_KEYS.get(column)
        if key is None:
            return
        descending = order == Qt.SortOrder.DescendingOrder
        if (key, descending) != (self.sort_key, self.descending):
            self.sort_key, self.descending = key, descending
            self.reload()

    def sort_column(self) -> int:
        return next(c for c, k in SORT_KEYS.items() if k == self.sort_key)

    # -- loading -------------------------------------------------------------------------------

    def set_filter(self, flt: JobFilter) -> None:
        """Start over with a new filter (the first page loads at once)."""
        self.filter = flt
        self.reload()

    def reload(self) -> None:
        self._generation += 1
        self.beginResetModel()
        self.rows = []
        self.texts = []
        self.exhausted = False
        self.loading = False
        self.endResetModel()
        self.fetchMore()

    async def _load_page(self, generation: int) -> None:
        after = self.rows[-1].cursor(self.sort_key) if self.rows else None
        try:
            page = await self.service.page(self.filter, sort=self.sort_key,
                                           descending=self.descending, after=after,
                                           limit=self.page_size)
        finally:
            if generation == self._generation:
                self.loading = False
        if generation != self._generation:
            return  # the filter or the sort changed while we waited
        if page.next is None:
            self.exhausted = True
        if page.rows:
            first = len(self.rows)
            self.beginInsertRows(QModelIndex(), first, first + len(page.rows) - 1)
            self.rows.extend(page.rows)
            self.texts.extend([None] * len(page.rows))
            self.endInsertRows()
        self.pageLoaded.emit(len(page.rows))

    async def refresh(self) -> None:
        """Re-read the head of the list (live updates): new jobs appear, changed ones change,
        jobs that left the filter go; selected jobs stay selected."""
        if self.loading or self.refreshing:
            return
        generation = self._generation
        # What is on screen and a margin (all of a short list); never more than LIVE_WINDOW.
        wanted = max(self.rows_on_screen() + self.page_size // 4, LIVE_MINIMUM)
        window = min(max(len(self.rows), self.page_size), wanted, LIVE_WINDOW)
        self.refreshing = True
        try:
            page = await self.service.page(self.filter, sort=self.sort_key,
                                           descending=self.descending, limit=window)
        finally:
            self.refreshing = False
        if generation != self._generation or self.loading:
            return
        head = page.rows
        tail: list[JobRow] = []
        if len(self.rows) > window and head:
            # Rows scrolled past the window stay, after the head's last row.
            seen = {row.id for row in head}
            last = _key(head[-1], self.sort_key)
            tail = [r for r in self.rows[window:] if r.id not in seen and
                    (_key(r, self.sort_key) < last if self.descending
                     else _key(r, self.sort_key) > last)]
        self._replace(head + tail)
        if page.next is None and not tail:
            self.exhausted = True
        elif self.exhausted and page.next is not None:
            self.exhausted = False  # more rows than shown now: scrolling fetches them
        self.refreshed.emit()

    def _replace(self, rows: list[JobRow]) -> None:
        """Make ``rows`` the list: removed jobs' rows go, new jobs' rows come in where they
        belong, changed rows repaint; persistent indexes (the selection) stay with their jobs.
        Jobs that changed places among themselves take one re-layout instead."""
        if rows == self.rows:
            return
        new_ids = [row.id for row in rows]
        old_ids = [row.id for row in self.rows]
        if new_ids != old_ids:
            new_set, old_set = set(new_ids), set(old_ids)
            removed = _runs([i for i, job in enumerate(old_ids) if job not in new_set])
            inserted = _runs([i for i, job in enumerate(new_ids) if job not in old_set])
            kept_in_order = ([job for job in old_ids if job in new_set]
                             == [job for job in new_ids if job in old_set])
            if not kept_in_order or len(removed) + len(inserted) > MAX_RUNS:
                self._relayout(rows)
                return
            for first, last in reversed(removed):
                self.beginRemoveRows(QModelIndex(), first, last)
                del self.rows[first:last + 1]
                del self.texts[first:last + 1]
                self.endRemoveRows()
            # What is left is the kept jobs in their new order; each insertion goes where it
            # belongs in the final list (the rows above it are already in place).
            for first, last in inserted:
                self.beginInsertRows(QModelIndex(), first, last)
                self.rows[first:first] = rows[first:last + 1]
                self.texts[first:first] = [None] * (last + 1 - first)
                self.endInsertRows()
        # Same jobs in the same order now: repaint only the rows that changed.
        changed = [i for i, (new, old) in enumerate(zip(rows, self.rows, strict=True))
                   if new != old]
        for i in changed:
            self.rows[i] = rows[i]
            self.texts[i] = None
        if changed:
            self.dataChanged.emit(self.index(changed[0], 0),
                                  self.index(changed[-1], len(HEADERS) - 1))

    def _relayout(self, rows: list[JobRow]) -> None:
        """Swap in ``rows`` in one re-layout, moving persistent indexes with their job ids."""
        self.layoutAboutToBeChanged.emit()
        position = {row.id: i for i, row in enumerate(rows)}
        old_ids = [row.id for row in self.rows]
        old_indexes = self.persistentIndexList()
        new_indexes = []
        for index in old_indexes:
            moved = position.get(old_ids[index.row()]) if index.row() < len(old_ids) else None
            new_indexes.append(QModelIndex() if moved is None
                               else self.index(moved, index.column()))
        previous = {row: text for row, text in zip(self.rows, self.texts, strict=True)}
        self.rows = rows
        self.texts = [previous.get(row) for row in rows]
        self.changePersistentIndexList(old_indexes, new_indexes)
        self.layoutChanged.emit()

    def ids_at(self, rows: list[int]) -> list[int]:
        return [self.rows[r].id for r in rows if 0 <= r < len(self.rows)]

    def row_of(self, job_id: int) -> int:
        for i, row in enumerate(self.rows):
            if row.id == job_id:
                return i
        return -1


_COLORS: dict[str, QColor] = {}


def _color(state: str) -> QColor:
    if state not in _COLORS:
        _COLORS[state] = fmt.status_color(STATE_COLORS.get(state, state))
    return _COLORS[state]


def _runs(positions: list[int]) -> list[tuple[int, int]]:
    """Ascending positions as (first, last) runs of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for i in positions:
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def _texts(row: JobRow) -> tuple[str, ...]:
    return tuple(_cell(row, column) for column in range(len(HEADERS)))


def _key(row: JobRow, sort: str) -> tuple[Any, int]:
    return (row.sort_value(sort), row.id)


def _cell(row: JobRow, column: int) -> str:
    if column == 0:
        return str(row.id)
    if column == 1:
        return row.kind
    if column == 2:
        return row.state
    if column == 3:
        if row.project_id is None:
            return ""
        return row.project_name or f"#{row.project_id}"
    if column == 4:
        return f"{row.attempts}/{row.max_attempts}"
    if column == 5:
        return fmt.one_line(row.last_error, 200)
    if column == 6:
        return row.worker or ""
    if column == 7:
        return short_time(row.run_at)
    return short_time(row.updated_at)


def short_time(ts: datetime) -> str:
    """Month, day and local time: the year is in the tooltip (a queue spans days, not years)."""
    return ts.astimezone().strftime("%m-%d %H:%M:%S")
