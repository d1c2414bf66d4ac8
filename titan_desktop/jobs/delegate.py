"""The Jobs table's cells, painted straight from the model's cached texts.

A live refresh that brings new jobs in at the top repaints every visible cell (~40 rows x 9
columns). The default delegate asks the model for ten roles per cell, each a call into Python,
and paints through the style sheet's style: about 20 ms of the UI thread per repaint on a quiet
machine. This one asks the model once for the text and once for its colour, fills the
selection or the alternate-row background from the palette the style sheet set, and draws the
elided text: a few milliseconds.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, Qt
from PySide6.QtGui import QPainter, QPalette, QStaticText
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from titan_desktop.jobs.model import JobTableModel

Index = QModelIndex | QPersistentModelIndex
# Columns whose text is right-aligned (numbers).
RIGHT_ALIGNED = (0, 4)
MARGIN = 3  # pixels left and right of a cell's text (what the default delegate leaves)
# Plain ints: bit tests on them cost less than on the flag enums (this runs per cell).
SELECTED = QStyle.StateFlag.State_Selected.value
ENABLED = QStyle.StateFlag.State_Enabled.value
ACTIVE = QStyle.StateFlag.State_Active.value
ALTERNATE = QStyleOptionViewItem.ViewItemFeature.Alternate.value
LAID_OUT = 5000  # (text, width) -> laid-out text entries kept


class JobCellDelegate(QStyledItemDelegate):
    def __init__(self, model: JobTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        # Most cells repeat (kinds, states, workers, times to the second): each text is elided
        # and laid out once (QStaticText), then drawn from its glyphs on every paint. A font
        # change empties it (``forget_layouts``, called by the view).
        self._laid_out: dict[tuple[str, int], tuple[QStaticText, float, float]] = {}

    def forget_layouts(self) -> None:
        self._laid_out.clear()

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        row, column = index.row(), index.column()
        model = self.model
        if row >= len(model.rows):
            return
        state = option.state.value
        palette: QPalette = option.palette
        rect = option.rect
        if not state & ENABLED:
            group = QPalette.ColorGroup.Disabled
        elif not state & ACTIVE:
            group = QPalette.ColorGroup.Inactive
        else:
            group = QPalette.ColorGroup.Normal
        selected = bool(state & SELECTED)
        if selected:
            painter.fillRect(rect, palette.brush(group, QPalette.ColorRole.Highlight))
        elif option.features.value & ALTERNATE:
            painter.fillRect(rect, palette.brush(group, QPalette.ColorRole.AlternateBase))
        text = model.text(row, column)
        if not text:
            return
        color = None if selected else model.foreground(row, column)
        painter.setPen(color if color is not None else palette.color(
            group, QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text))
        width = rect.width() - 2 * MARGIN
        key = (text, width)
        laid_out = self._laid_out.get(key)
        if laid_out is None:
            if len(self._laid_out) >= LAID_OUT:
                self._laid_out.clear()
            static = QStaticText(option.fontMetrics.elidedText(
                text, Qt.TextElideMode.ElideRight, width))
            static.setTextFormat(Qt.TextFormat.PlainText)
            static.prepare(painter.transform(), painter.font())
            size = static.size()
            laid_out = self._laid_out[key] = (static, size.width(), size.height())
        static, text_width, text_height = laid_out
        x = (rect.right() + 1 - MARGIN - text_width if column in RIGHT_ALIGNED
             else rect.left() + MARGIN)
        painter.drawStaticText(QPointF(x, rect.top() + (rect.height() - text_height) / 2),
                               static)
