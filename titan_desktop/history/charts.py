"""The History view's charts (QtCharts): stacked areas by kind, and plain time lines.

Both put time on a QDateTimeAxis in local time and start their value axis at zero. Series are
kept and their points replaced on refresh, so a live chart does not flicker or re-lay out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from PySide6.QtCharts import QAreaSeries, QChart, QChartView, QDateTimeAxis, QLineSeries, QValueAxis
from PySide6.QtCore import QDateTime, QMargins, QPointF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

from titan_desktop.palette import TEXT_STRONG


def _msecs(ts: datetime) -> float:
    return float(ts.timestamp() * 1000)


def _qdatetime(ts: datetime) -> QDateTime:
    return QDateTime.fromMSecsSinceEpoch(int(ts.timestamp() * 1000))


class _TimeChart(QChartView):
    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        chart = QChart()
        chart.setTitle(title)
        chart.setTitleBrush(QBrush(QColor(TEXT_STRONG)))
        chart.setMargins(QMargins(4, 4, 4, 4))
        chart.setBackgroundRoundness(6)
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        super().__init__(chart, parent)
        self._range: tuple[QDateTime, QDateTime] | None = None
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setMinimumHeight(220)
        self.x_axis = QDateTimeAxis()
        self.x_axis.setFormat("HH:mm")
        self.x_axis.setTickCount(7)
        self.y_axis = QValueAxis()
        self.y_axis.setLabelFormat("%.0f")
        self.y_axis.setRange(0, 1)
        chart.addAxis(self.x_axis, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(self.y_axis, Qt.AlignmentFlag.AlignLeft)

    def _attach(self, series: QAreaSeries | QLineSeries) -> None:
        self.chart().addSeries(series)
        series.attachAxis(self.x_axis)
        series.attachAxis(self.y_axis)
        if self._range is not None:  # attaching an empty series collapses the axis' range
            self.x_axis.setRange(*self._range)

    def set_time_range(self, start: datetime, end: datetime, day: bool) -> None:
        self.x_axis.setFormat("HH:mm" if not day else "ddd HH:mm")
        self._range = (_qdatetime(start), _qdatetime(end))
        self.x_axis.setRange(*self._range)

    def set_top(self, top: float, label_format: str = "%.0f") -> None:
        # Small figures (a few jobs per minute, averaged) need a decimal to tell ticks apart.
        self.y_axis.setLabelFormat(label_format if top >= 5 else "%.1f")
        self.y_axis.setRange(0, top * 1.1 if top > 0 else 1)
        self.y_axis.applyNiceNumbers()


class StackedKindChart(_TimeChart):
    """One stacked area per kind; a kind's colour is given by the caller (one per kind)."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.areas: dict[str, tuple[QAreaSeries, QLineSeries, QLineSeries]] = {}
        # An empty series holds the axes from the start: axes that got their first series
        # after the chart was shown drew no labels (QtCharts lays them out only then).
        anchor = QLineSeries(self)
        self._attach(anchor)
        for marker in self.chart().legend().markers(anchor):
            marker.setVisible(False)

    def show_series(self, xs: Sequence[datetime], values: dict[str, list[float]],
                    colours: dict[str, QColor]) -> None:
        """``values[kind][i]`` at ``xs[i]``, stacked in the order of ``colours``."""
        for kind in [k for k in self.areas if k not in colours]:
            area, upper, lower = self.areas.pop(kind)
            self.chart().removeSeries(area)
        below = [0.0] * len(xs)
        points = [_msecs(x) for x in xs]
        for kind, colour in colours.items():
            counts = values.get(kind, [0.0] * len(xs))
            above = [b + c for b, c in zip(below, counts, strict=True)]
            if kind not in self.areas:
                upper, lower = QLineSeries(self), QLineSeries(self)
                area = QAreaSeries(upper, lower)
                area.setName(kind)
                self._attach(area)
                self.areas[kind] = (area, upper, lower)
            area, upper, lower = self.areas[kind]
            area.setBrush(QBrush(colour))
            area.setPen(QPen(colour.darker(115), 1))
            upper.replace([QPointF(x, y) for x, y in zip(points, above, strict=True)])
            lower.replace([QPointF(x, y) for x, y in zip(points, below, strict=True)])
            # The legend names only kinds this chart draws (same colours in every chart).
            for marker in self.chart().legend().markers(area):
                marker.setVisible(any(counts))
            below = above
        self.chart().legend().setVisible(bool(colours))
        self.set_top(max(below, default=0.0))


class LinesChart(_TimeChart):
    """A few named lines over time (queue depth by state, the oldest job's age)."""

    def __init__(self, title: str, lines: dict[str, QColor],
                 parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.lines: dict[str, QLineSeries] = {}
        for name, colour in lines.items():
            series = QLineSeries(self)
            series.setName(name)
            series.setPen(QPen(colour, 2))
            self._attach(series)
            self.lines[name] = series
        self.chart().legend().setVisible(len(lines) > 1)

    def show_points(self, points: dict[str, list[tuple[datetime, float]]],
                    label_format: str = "%.0f") -> None:
        top = 0.0
        for name, series in self.lines.items():
            line = points.get(name, [])
            series.replace([QPointF(_msecs(x), y) for x, y in line])
            top = max([top, *(y for _, y in line)])
        self.set_top(top, label_format)
