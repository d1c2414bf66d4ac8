"""Painted cells: the five-stage pipeline and a progress bar."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
)

from titan_desktop.models import ROW_ROLE
from titan_desktop.palette import ACCENT, DANGER, MUTED, PENDING, SUCCESS, TEXT_DARK, WARNING
from titan_desktop.progress.models import stage_states
from worker.db.models import PIPELINE_STEPS

STATE_COLORS = {"done": SUCCESS, "active": ACCENT, "failed": DANGER, "waiting": WARNING,
                "pending": PENDING}
Index = QModelIndex | QPersistentModelIndex


class PipelineDelegate(QStyledItemDelegate):
    """scaffold → build → deploy → verify → publish as connected dots with labels."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        self._background(painter, option, index)
        project = index.data(ROW_ROLE)
        if project is None:
            return
        states = stage_states(project)
        rect = QRectF(option.rect).adjusted(8, 3, -8, -3)
        step_width = rect.width() / len(PIPELINE_STEPS)
        radius = 5.0
        dot_y = rect.top() + radius + 2
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = QFont(option.font)
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.78))
        painter.setFont(font)
        for i, (step, state) in enumerate(zip(PIPELINE_STEPS, states, strict=True)):
            cx = rect.left() + step_width * (i + 0.5)
            if i:
                prev_done = states[i - 1] == "done"
                painter.setPen(QPen(QColor(STATE_COLORS["done" if prev_done else "pending"]), 2))
                painter.drawLine(int(cx - step_width + radius), int(dot_y),
                                 int(cx - radius), int(dot_y))
            color = QColor(STATE_COLORS[state])
            painter.setPen(QPen(color, 2))
            painter.setBrush(color if state != "pending" else Qt.BrushStyle.NoBrush)
            painter.drawEllipse(QRectF(cx - radius, dot_y - radius, 2 * radius, 2 * radius))
            painter.setPen(QColor(TEXT_DARK) if state != "pending" else QColor(MUTED))
            text_rect = QRectF(cx - step_width / 2, dot_y + radius + 1, step_width,
                               rect.bottom() - dot_y - radius)
            painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                             step)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        return QSize(330, 36)

    def _background(self, painter: QPainter, option: Any, index: Index) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        style = opt.widget.style() if opt.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)


class ProgressDelegate(PipelineDelegate):
    """A progress bar from the row's ``progress`` (0..1)."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        self._background(painter, option, index)
        project = index.data(ROW_ROLE)
        if project is None:
            return
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(6, 9, -6, -9)
        bar.minimum, bar.maximum = 0, 100
        bar.progress = round(project.progress * 100)
        bar.text = f"{bar.progress}%"
        bar.textVisible = True
        bar.state = QStyle.StateFlag.State_Enabled
        QApplication.style().drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        return QSize(110, 36)
