"""History view: finished jobs per minute by kind (succeeded, failed), queue depth and the age of
the oldest runnable job, over the last hour or day, refreshed live. Thin: the controller loads,
the charts and the totals model draw."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from PySide6.QtGui import QColor, QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from titan_desktop import fmt
from titan_desktop.context import AppContext
from titan_desktop.history.charts import LinesChart, StackedKindChart
from titan_desktop.history.controller import HistoryController
from titan_desktop.history.model import kind_colour
from titan_desktop.palette import ACCENT, MUTED, SUCCESS, WARNING
from worker.services.history import History

PERIOD_LABELS = {"hour": "Last hour", "day": "Last day"}


class HistoryView(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("historyView")
        self.controller = HistoryController(ctx, self)
        self.period_buttons: dict[str, QPushButton] = {}
        group = QButtonGroup(self)
        bar = QHBoxLayout()
        for period, label in PERIOD_LABELS.items():
            button = QPushButton(label)
            button.setCheckable(True)
            button.setChecked(period == self.controller.period)
            button.clicked.connect(lambda _=False, p=period: self.controller.set_period(p))
            group.addButton(button)
            bar.addWidget(button)
            self.period_buttons[period] = button
        self.summary = QLabel("Loading…")
        self.summary.setObjectName("historySummary")
        self.oldest = QLabel("")
        self.oldest.setObjectName("historyOldest")
        bar.addSpacing(12)
        bar.addWidget(self.summary, 1)
        bar.addWidget(self.oldest)

        self.succeeded_chart = StackedKindChart("Succeeded per minute")
        self.failed_chart = StackedKindChart("Failed per minute")
        self.depth_chart = LinesChart("Queue depth", {"runnable": QColor(ACCENT),
                                                "scheduled": QColor(MUTED),
                                                "running": QColor(SUCCESS)})
        self.age_chart = LinesChart("Oldest runnable job (seconds)",
                              {"oldest runnable": QColor(WARNING)})
        self.totals = QTableView()
        self.totals.setObjectName("historyTotals")
        self.totals.setModel(self.controller.totals)
        self.totals.verticalHeader().setVisible(False)
        self.totals.setShowGrid(False)
        self.totals.setAlternatingRowColors(True)
        self.totals.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.totals.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.totals.setMinimumWidth(340)
        self.totals.setMaximumWidth(420)

        grid = QGridLayout()
        grid.addWidget(self.succeeded_chart, 0, 0)
        grid.addWidget(self.failed_chart, 0, 1)
        grid.addWidget(self.depth_chart, 1, 0)
        grid.addWidget(self.age_chart, 1, 1)
        body = QHBoxLayout()
        body.addLayout(grid, 1)
        body.addWidget(self.totals)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addLayout(body, 1)

        # The oldest job's age grows between refreshes: tick it every second from the last read.
        self._oldest_seconds: float | None = None
        self._read_at = 0.0
        self._tick = self.startTimer(1000)
        self.controller.historyChanged.connect(self._show)

    def timerEvent(self, event: object) -> None:  # Qt's name
        self._show_oldest()

    def _show_oldest(self) -> None:
        if self._oldest_seconds is None:
            self.oldest.setText("No runnable job waiting")
            return
        age = self._oldest_seconds + time.monotonic() - self._read_at
        self.oldest.setText(f"Oldest runnable job waiting {fmt.duration(age)}")

    def _show(self, history: History) -> None:
        tp = history.throughput
        queue = history.queue
        self.period_buttons[tp.period].setChecked(True)
        per_minute = tp.bucket_seconds / 60  # a day's buckets are ten minutes: show the rate
        colours = {kind: kind_colour(tp.kinds, kind) for kind in tp.kinds}
        end = tp.starts[-1] + timedelta(seconds=tp.bucket_seconds)
        day = tp.period == "day"
        average = " (10-minute average)" if day else ""
        for chart, series, name in ((self.succeeded_chart, tp.succeeded, "Succeeded"),
                                    (self.failed_chart, tp.failed, "Failed")):
            chart.chart().setTitle(f"{name} per minute{average}")
            chart.set_time_range(tp.starts[0], end, day)
            chart.show_series(tp.starts, {k: [c / per_minute for c in v]
                                          for k, v in series.items()}, colours)
        samples = [(s.bucket, s) for s in history.samples]
        now = queue.at
        depth = {
            "runnable": [(t, float(s.runnable)) for t, s in samples] + [(now, queue.runnable)],
            "scheduled": [(t, float(s.scheduled)) for t, s in samples] + [(now, queue.scheduled)],
            "running": [(t, float(s.running)) for t, s in samples] + [(now, queue.running)],
        }
        ages = [(t, s.oldest_runnable_seconds or 0.0) for t, s in samples]
        ages.append((now, queue.oldest_runnable_seconds or 0.0))
        for line_chart in (self.depth_chart, self.age_chart):
            line_chart.set_time_range(tp.starts[0], max(end, _after(now)), day)
        self.depth_chart.show_points(depth)
        self.age_chart.show_points({"oldest runnable": ages})
        self.summary.setText(
            f"{PERIOD_LABELS[tp.period]}: {tp.total('succeeded'):,} succeeded, "
            f"{tp.total('failed'):,} failed · queue: {queue.runnable:,} runnable, "
            f"{queue.scheduled:,} scheduled, {queue.running:,} running")
        self._oldest_seconds = queue.oldest_runnable_seconds
        self._read_at = time.monotonic()
        self._show_oldest()

    # Live only while shown: a hidden tab (or a closing window) queries nothing.
    def showEvent(self, event: QShowEvent) -> None:  # Qt's name
        super().showEvent(event)
        self.controller.start()

    def hideEvent(self, event: QHideEvent) -> None:  # Qt's name
        self.controller.stop()
        super().hideEvent(event)


def _after(ts: datetime) -> datetime:
    return ts + timedelta(seconds=1)
