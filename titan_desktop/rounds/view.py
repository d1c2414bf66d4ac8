"""The Output tab's "AI rounds" page: a project's rounds (n/max, check summary, verdict, tokens,
refused edits), and for the selected round the files the model wrote, its diff coloured +/- and
the tail of the check's output. New rounds arrive live (see ``RoundsController``)."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import (
    QColor,
    QFontDatabase,
    QStandardItem,
    QStandardItemModel,
    QTextCharFormat,
    QTextCursor,
    QTextFormat,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QListView,
    QPlainTextEdit,
    QSplitter,
    QTableView,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from titan_desktop import palette
from titan_desktop.context import AppContext
from titan_desktop.rounds.controller import RoundsController
from titan_desktop.rounds.diff import DiffHighlighter, diff_counts, line_kind, tint
from titan_desktop.rounds.model import RoundRow

EMPTY_TEXT = "Built from the template alone — no AI rounds."
NOT_YET_TEXT = ("No AI rounds yet. When a model writes this project's code, each round of the "
                "repair loop appears here as it ends: its check, its diff and the files it wrote.")
# A project in one of these states has been built: no rounds by now means no AI work.
BUILT = frozenset({"deploy", "verify", "publish", "awaiting_approval", "published", "rejected"})
NO_PROJECT_TEXT = "Select a project to see its AI rounds."
LINE_ROLE = Qt.ItemDataRole.UserRole + 1
COLUMN_WIDTHS = (60, 220, 80, 70, 260, 90)
MAX_WASHED_LINES = 20_000


def _titled(title: str, widget: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    layout.addWidget(QLabel(f"<b>{escape(title)}</b>"))
    layout.addWidget(widget, 1)
    return box


def _code_view(name: str, placeholder: str) -> QPlainTextEdit:
    view = QPlainTextEdit()
    view.setObjectName(name)
    view.setReadOnly(True)
    view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    view.setPlaceholderText(placeholder)
    return view


def round_summary(rows: list[RoundRow]) -> str:
    """One line over the table: how many rounds, tokens, how the last one ended."""
    if not rows:
        return ""
    loops = len({r.loop_id for r in rows})
    tokens = sum(r.tokens for r in rows)
    last = rows[-1]
    verdict = (f"the last round passed ({last.check_summary})" if last.passed
               else f"the last round failed: {last.check_summary}")
    runs = f" in {loops} runs of the repair loop" if loops > 1 else ""
    count = f"{len(rows)} AI round{'s' if len(rows) != 1 else ''}"
    return f"{count}{runs} · {tokens:,} tokens · {verdict}"


class RoundsPanel(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = c = RoundsController(ctx, self)
        model = c.model

        self.summary = QLabel(NO_PROJECT_TEXT)
        self.summary.setObjectName("roundsSummary")
        self.summary.setWordWrap(True)
        self.summary.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)

        self.table = QTableView()
        self.table.setObjectName("roundsTable")
        self.table.setModel(model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        for column, width in enumerate(COLUMN_WIDTHS):
            self.table.setColumnWidth(column, width)
        self.table.selectionModel().currentRowChanged.connect(self._on_current)

        self.detail = QLabel("")
        self.detail.setObjectName("roundDetail")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.refused = QLabel("")
        self.refused.setObjectName("roundRefusals")
        self.refused.setWordWrap(True)
        self.refused.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.refused.setStyleSheet(f"color: {palette.DANGER}")
        self.refused.setVisible(False)

        self.files_model = QStandardItemModel(self)
        self.files = QListView()
        self.files.setObjectName("roundFiles")
        self.files.setModel(self.files_model)
        self.files.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.files.clicked.connect(self._jump_to_file)

        self.diff = _code_view("roundDiff", "This round changed no file.")
        self.highlighter = DiffHighlighter(self.diff.document())
        self.output = _code_view("roundOutput", "The check printed nothing.")

        code = QSplitter(Qt.Orientation.Vertical)
        code.addWidget(_titled("Diff", self.diff))
        code.addWidget(_titled("Check output (its last lines)", self.output))
        code.setStretchFactor(0, 3)
        code.setStretchFactor(1, 1)
        files_and_code = QSplitter()
        files_and_code.addWidget(_titled("Files the model wrote", self.files))
        files_and_code.addWidget(code)
        files_and_code.setStretchFactor(0, 1)
        files_and_code.setStretchFactor(1, 4)
        files_and_code.setSizes([220, 780])

        details = QWidget()
        details_layout = QVBoxLayout(details)
        details_layout.setContentsMargins(0, 0, 0, 0)
        details_layout.addWidget(self.detail)
        details_layout.addWidget(self.refused)
        details_layout.addWidget(files_and_code, 1)

        self.body = QSplitter(Qt.Orientation.Vertical)
        self.body.addWidget(self.table)
        self.body.addWidget(details)
        self.body.setStretchFactor(0, 1)
        self.body.setStretchFactor(1, 3)
        self.body.setSizes([130, 500])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.body, 1)

        model.modelReset.connect(self._after_reset)
        model.rowsInserted.connect(self._after_insert)
        c.loaded.connect(self._update_state)
        self._following = True  # the latest round stays selected as new ones arrive
        self._status: str | None = None
        self._update_state()

    # -- state -----------------------------------------------------------------------------

    def show_project(self, project_id: int | None) -> None:
        self.controller.set_project(project_id)

    def note_status(self, status: str | None) -> None:
        """The selected project's status (what the empty state says depends on it)."""
        if status != self._status:
            self._status = status
            self._update_state()

    def _update_state(self) -> None:
        c = self.controller
        rows = c.model.rows
        if c.project_id is None:
            text = NO_PROJECT_TEXT
        elif c.loaded_project != c.project_id:
            text = "Loading the AI rounds…"
        else:
            text = round_summary(rows) or (EMPTY_TEXT if self._status in BUILT
                                           else NOT_YET_TEXT)
        self.summary.setText(text)
        self.body.setVisible(bool(rows))

    def _after_reset(self) -> None:
        self._following = True
        self._select_last()
        if not self.controller.model.rows:
            self._show_round(None)

    def _after_insert(self, _parent: QModelIndex, _first: int, _last: int) -> None:
        if self._following or not self.table.selectionModel().hasSelection():
            self._select_last()
        self._update_state()

    def _select_last(self) -> None:
        rows = self.controller.model.rowCount()
        if rows:
            self.table.selectRow(rows - 1)
            self.table.scrollToBottom()

    def selected_round(self) -> RoundRow | None:
        index = self.table.selectionModel().currentIndex()
        return self.controller.model.row_at(index.row()) if index.isValid() else None

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        model = self.controller.model
        self._following = current.isValid() and current.row() == model.rowCount() - 1
        self._show_round(model.row_at(current.row()) if current.isValid() else None)

    # -- the selected round ----------------------------------------------------------------

    def _show_round(self, row: RoundRow | None) -> None:
        self.files_model.clear()
        if row is None:
            self.detail.setText("")
            self.refused.setVisible(False)
            self.diff.setPlainText("")
            self.output.setPlainText("")
            return
        verdict_color = palette.SUCCESS if row.passed else palette.DANGER
        added, removed = diff_counts(row.diff)
        parts = [f"<b>Round {row.label}</b>",
                 f'<span style="color:{verdict_color}">{"passed" if row.passed else "failed"}'
                 f"</span>: {escape(row.check_summary)}"]
        if row.check_exit_code is not None:
            parts.append(f"exit code {row.check_exit_code}")
        parts.append(f"{row.tokens:,} tokens")
        parts.append(f"{added} line{'s' if added != 1 else ''} added, {removed} removed")
        self.detail.setText(" · ".join(parts))
        self.refused.setText("<br>".join(
            f"<b>Refused:</b> <code>{escape(r['path'])}</code> — {escape(r['reason'])}"
            for r in row.refusals))
        self.refused.setToolTip("Nothing was written for a refused edit; the reason went back "
                                "to the model and the refusal counts against the round.")
        self.refused.setVisible(bool(row.refusals))
        for change in row.files:
            item = QStandardItem(change.label)
            item.setData(change.line, LINE_ROLE)
            item.setToolTip(change.path)
            if change.change != "modified":
                item.setForeground(QColor(palette.SUCCESS if change.change == "new"
                                          else palette.DANGER))
            self.files_model.appendRow(item)
        self.diff.setPlainText(row.diff)
        self._wash_lines()
        self.output.setPlainText(row.check_output)
        bar = self.output.verticalScrollBar()
        bar.setValue(bar.maximum())  # the end of the output is where the failure is

    def _wash_lines(self) -> None:
        """Whole added lines on a green wash, removed ones on a red wash."""
        washes = {"added": tint(palette.SUCCESS), "removed": tint(palette.DANGER)}
        selections: list[QTextEdit.ExtraSelection] = []
        if self.diff.document().blockCount() > MAX_WASHED_LINES:  # the text colours suffice
            self.diff.setExtraSelections(selections)
            return
        block = self.diff.document().firstBlock()
        while block.isValid():
            wash = washes.get(line_kind(block.text()))
            if wash is not None:
                selection = QTextEdit.ExtraSelection()
                fmt = QTextCharFormat()
                fmt.setBackground(wash)
                fmt.setProperty(QTextFormat.Property.FullWidthSelection, True)
                selection.format = fmt
                selection.cursor = QTextCursor(block)
                selections.append(selection)
            block = block.next()
        self.diff.setExtraSelections(selections)

    def _jump_to_file(self, index: QModelIndex) -> None:
        line = index.data(LINE_ROLE)
        if not isinstance(line, int):
            return
        block = self.diff.document().findBlockByNumber(line)
        if block.isValid():
            self.diff.setTextCursor(QTextCursor(block))
            self.diff.verticalScrollBar().setValue(line)  # its header at the top when it can be
            self.diff.ensureCursorVisible()
