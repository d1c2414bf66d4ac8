"""One project's AI rounds as a table: round n/max, the check's summary, the verdict, tokens and
the refused edits. Rows only ever get appended by a live refresh (rounds are never rewritten), so
a new round arrives as an inserted row and the person's selection stays where it was."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from titan_desktop import fmt
from titan_desktop.models import KEY_ROLE, ROW_ROLE
from titan_desktop.palette import DANGER, SUCCESS
from titan_desktop.rounds.diff import FileChange, files_in_diff

Index = QModelIndex | QPersistentModelIndex
HEADERS = ("Round", "Check", "Result", "Tokens", "Refused edits", "Purpose", "When")
RESULT_COLUMN = 2
TOKENS_COLUMN = 3
REFUSED_COLUMN = 4


@dataclass(frozen=True)
class RoundRow:
    """A round as the desktop keeps it (a plain copy, no database session behind it)."""

    id: int
    loop_id: str
    purpose: str
    round: int
    max_rounds: int
    check_summary: str
    passed: bool
    tokens: int
    diff: str = ""
    check_exit_code: int | None = None
    check_output: str = ""
    refusals: list[dict[str, str]] = field(default_factory=list)
    created_at: datetime | None = None

    @property
    def files(self) -> list[FileChange]:
        return files_in_diff(self.diff)

    @property
    def label(self) -> str:
        return f"{self.round}/{self.max_rounds}"

    @property
    def progress(self) -> str:
        text = f"round {self.label}: {self.check_summary}"
        if self.refusals:
            n = len(self.refusals)
            text += f", {n} edit{'s' if n != 1 else ''} refused"
        return text


def round_row(row: Any) -> RoundRow:
    refusals = [{"path": str(r.get("path", "")), "reason": str(r.get("reason", ""))}
                for r in (row.refusals or []) if isinstance(r, dict)]
    return RoundRow(row.id, row.loop_id, row.purpose, row.round, row.max_rounds,
                    row.check_summary, bool(row.passed), int(row.tokens or 0), row.diff or "",
                    row.check_exit_code, row.check_output or "", refusals, row.created_at)


def refusals_text(row: RoundRow) -> str:
    return "; ".join(f"{r['path']}: {r['reason']}" for r in row.refusals)


class RoundsModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: list[RoundRow] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole
                and 0 <= section < len(HEADERS)):
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
            if column == REFUSED_COLUMN and row.refusals:
                return "\n".join(f"{r['path']}: {r['reason']}" for r in row.refusals)
            if column == 1:
                return row.check_summary
            return None
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == RESULT_COLUMN:
                return QColor(SUCCESS if row.passed else DANGER)
            if column == REFUSED_COLUMN and row.refusals:
                return QColor(DANGER)
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and column == TOKENS_COLUMN:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == ROW_ROLE:
            return row
        if role == KEY_ROLE:
            return row.id
        return None

    @staticmethod
    def _text(row: RoundRow, column: int) -> str:
        if column == 0:
            return row.label
        if column == 1:
            return row.check_summary
        if column == RESULT_COLUMN:
            return "✔ passed" if row.passed else "✘ failed"
        if column == TOKENS_COLUMN:
            return f"{row.tokens:,}"
        if column == REFUSED_COLUMN:
            return refusals_text(row)
        if column == 5:
            return row.purpose
        return fmt.when(row.created_at)

    def set_rows(self, rows: list[RoundRow]) -> None:
        """Append what is new when the rows only grew; otherwise start over."""
        old = [r.id for r in self.rows]
        if [r.id for r in rows[:len(old)]] == old and len(rows) > len(old):
            self.beginInsertRows(QModelIndex(), len(old), len(rows) - 1)
            self.rows = rows
            self.endInsertRows()
            return
        if [r.id for r in rows] == old:
            self.rows = rows
            return
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def row_at(self, row: int) -> RoundRow | None:
        return self.rows[row] if 0 <= row < len(self.rows) else None

    @property
    def tokens(self) -> int:
        return sum(r.tokens for r in self.rows)
