"""Revenue over time (QtCharts): one currency at a time, one point per day, week or month."""

from __future__ import annotations

from datetime import date, timedelta

from PySide6.QtCharts import QAreaSeries, QChart, QChartView, QDateTimeAxis, QLineSeries, QValueAxis
from PySide6.QtCore import QDate, QDateTime, QMargins, QPointF, Qt, QTime
from PySide6.QtGui import QBrush, QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

from titan_desktop.palette import ACCENT
from worker.sales.money import to_decimal
from worker.sales.summary import RevenueSeries

LINE = QColor(ACCENT)
FILL = QColor(ACCENT)
FILL.setAlpha(40)  # the area under the line: the line's colour, faint
_FORMATS = {"day": "MMM d", "week": "MMM d", "month": "MMM yyyy"}


def _msecs(day: date) -> float:
    return float(_midnight(day).toMSecsSinceEpoch())


def _midnight(day: date) -> QDateTime:
    return QDateTime(QDate(day.year, day.month, day.day), QTime(0, 0))


class RevenueChart(QChartView):
    def __init__(self, parent: QWidget | None = None) -> None:
        chart = QChart()
        chart.legend().hide()
        chart.setMargins(QMargins(4, 4, 4, 4))
        chart.setBackgroundRoundness(6)
        super().__init__(chart, parent)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setMinimumHeight(240)
        self.line = QLineSeries()
        self.line.setPen(QPen(LINE, 2))
        self.line.setPointsVisible(True)
        self.baseline = QLineSeries()
        self.area = QAreaSeries(self.line, self.baseline)
        self.area.setBrush(QBrush(FILL))
        self.area.setPen(QPen(Qt.PenStyle.NoPen))
        chart.addSeries(self.area)
        chart.addSeries(self.line)
        self.x_axis = QDateTimeAxis()
        self.y_axis = QValueAxis()
        self.y_axis.setLabelFormat("%.0f")
        self.y_axis.setMin(0)
        chart.addAxis(self.x_axis, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(self.y_axis, Qt.AlignmentFlag.AlignLeft)
        for series in (self.area, self.line):
            series.attachAxis(self.x_axis)
            series.attachAxis(self.y_axis)
        self.currency: str | None = None
        # Until the first series arrives: the last 30 days, never the epoch (QDateTimeAxis's
        # default range is 1970).
        today = date.today()
        self._show_period([today - timedelta(days=29), today], "day")

    def _show_period(self, starts: list[date], bucket: str) -> None:
        self.x_axis.setFormat(_FORMATS[bucket])
        self.x_axis.setTickCount(max(2, min(len(starts), 7)))
        self.x_axis.setRange(_midnight(starts[0]), _midnight(starts[-1]))

    def show_series(self, series: RevenueSeries, currency: str | None) -> None:
        """Plot ``currency``'s revenue per bucket (zero buckets included); None clears it."""
        self.currency = currency
        values = series.values.get(currency or "", [])
        chart = self.chart()
        if series.starts:
            self._show_period(series.starts, series.bucket)
        if currency is None or not values:
            # The empty state: this period's dates along the bottom, no made-up scale.
            self.line.clear()
            self.baseline.clear()
            self.y_axis.setRange(0, 1)
            self.y_axis.setLabelsVisible(False)
            self.y_axis.setTitleText("")
            chart.setTitle(f"No paid orders in the last {len(series.starts)} {series.bucket}s")
            return
        # Plot coordinates are floats by necessity; the money itself stays exact elsewhere.
        points = [(_msecs(d), float(to_decimal(v, currency)))
                  for d, v in zip(series.starts, values, strict=True)]
        self.line.replace([_point(x, y) for x, y in points])
        self.baseline.replace([_point(x, 0.0) for x, _ in points])
        top = max(y for _, y in points)
        self.y_axis.setRange(0, top * 1.1 if top else 1)
        self.y_axis.applyNiceNumbers()
        self.y_axis.setLabelsVisible(True)
        self.y_axis.setTitleText(currency)
        chart.setTitle(f"Revenue per {series.bucket} ({currency})")


def _point(x: float, y: float) -> QPointF:
    return QPointF(x, y)
