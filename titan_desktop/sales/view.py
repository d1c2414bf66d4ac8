"""Sales tab: yesterday's performance, KPI cards per currency, revenue over time, the sales
action log and sales per project. Figures come from worker.sales; this module only shows them."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import QAbstractItemModel, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from titan_desktop import palette
from titan_desktop.context import AppContext
from titan_desktop.sales.chart import RevenueChart
from titan_desktop.sales.controller import SalesController
from titan_desktop.sales.dialog import RecordOrderDialog
from titan_desktop.sales.models import KPIS, KpiModel
from worker.sales.money import format_money
from worker.sales.overview import SalesOverview
from worker.sales.summary import RevenueSeries

STYLE = f"""
QFrame#kpiCard {{ background: {palette.WHITE}; border: 1px solid {palette.BORDER};
                 border-radius: 6px; }}
QLabel#kpiTitle {{ color: {palette.TEXT_HINT}; font-size: 11px; }}
QLabel#kpiValue {{ color: {palette.TEXT_STRONG}; font-size: 17px; font-weight: bold; }}
QLabel#kpiDetail {{ color: {palette.TEXT_HINT}; font-size: 11px; }}
QLabel#statValue {{ color: {palette.TEXT_STRONG}; font-size: 15px; font-weight: bold; }}
QLabel#salesBanner {{ background: {palette.BANNER}; border: 1px solid {palette.BANNER_BORDER};
                     border-radius: 6px; padding: 8px; color: {palette.BANNER_TEXT}; }}
QPushButton#recordOrder {{ background: {palette.ACCENT}; color: {palette.WHITE};
                          border-color: {palette.ACCENT}; }}
QPushButton#recordOrder:hover {{ background: {palette.ACCENT_HOVER}; }}
"""
NO_FIGURE = "—"


class KpiCard(QFrame):
    """One KPI: a title and one value line per currency (never one mixed total)."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("kpiCard")
        self.title = QLabel(title)
        self.title.setObjectName("kpiTitle")
        self.value = QLabel(NO_FIGURE)
        self.value.setObjectName("kpiValue")
        self.detail = QLabel("")
        self.detail.setObjectName("kpiDetail")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(2)
        for widget in (self.title, self.value, self.detail):
            layout.addWidget(widget)
        layout.addStretch(1)

    def set_lines(self, values: list[str], details: list[str]) -> None:
        self.value.setText("\n".join(values) or NO_FIGURE)
        self.detail.setText(" · ".join(d for d in details if d))
        self.detail.setVisible(bool(self.detail.text()))


class Stat(QWidget):
    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.value = QLabel(NO_FIGURE)
        self.value.setObjectName("statValue")
        caption = QLabel(title)
        caption.setObjectName("kpiTitle")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.value)
        layout.addWidget(caption)


def _table(model: QAbstractItemModel, name: str, stretch: int) -> QTableView:
    table = QTableView()
    table.setObjectName(name)
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    table.setWordWrap(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    return table


class SalesTab(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None,
                 controller: SalesController | None = None) -> None:
        super().__init__(parent)
        self.setStyleSheet(STYLE)
        self.controller = c = controller or SalesController(ctx, self)
        self.dialog: RecordOrderDialog | None = None

        title = QLabel("<h2 style='margin:0'>Sales</h2>")
        self.sources = QLabel("")
        self.sources.setObjectName("hint")
        self.feedback = QLabel("")
        self.feedback.setObjectName("feedback")
        self.sync_button = QPushButton("Sync now")
        self.sync_button.clicked.connect(c.sync)
        self.record_button = QPushButton("Record order…")
        self.record_button.setObjectName("recordOrder")
        self.record_button.clicked.connect(self.open_record_dialog)
        top = QHBoxLayout()
        top.addWidget(title)
        top.addSpacing(12)
        top.addWidget(self.sources, 1)
        top.addWidget(self.feedback)
        top.addWidget(self.sync_button)
        top.addWidget(self.record_button)
        c.message.connect(self.feedback.setText)

        self.banner = QLabel("")
        self.banner.setObjectName("salesBanner")
        self.banner.setWordWrap(True)
        self.banner.setVisible(False)

        self.yesterday_box = QGroupBox("Yesterday's performance")
        self.income = Stat("income earned")
        self.content = Stat("content created")
        self.messages = Stat("messages sent")
        row = QHBoxLayout(self.yesterday_box)
        for stat in (self.income, self.content, self.messages):
            row.addWidget(stat, 1)

        self.cards = [KpiCard(kpi.title) for kpi in KPIS]
        cards = QGridLayout()
        cards.setSpacing(8)
        for i, card in enumerate(self.cards):
            cards.addWidget(card, 0, i)
        c.kpis.modelReset.connect(self._fill_cards)

        self.chart = RevenueChart()
        self.bucket = QComboBox()
        for label, bucket in (("By day (30 days)", "day"), ("By week (12 weeks)", "week"),
                              ("By month (12 months)", "month")):
            self.bucket.addItem(label, bucket)
        self.bucket.currentIndexChanged.connect(
            lambda _i: c.set_bucket(self.bucket.currentData()))
        self.currency = QComboBox()
        self.currency.setToolTip("Each currency is charted on its own; they are never added up.")
        self.currency.currentTextChanged.connect(self._draw_chart)
        chart_box = QGroupBox("Revenue over time")
        chart_controls = QHBoxLayout()
        chart_controls.addWidget(self.bucket)
        chart_controls.addWidget(self.currency)
        chart_controls.addStretch(1)
        chart_layout = QVBoxLayout(chart_box)
        chart_layout.addLayout(chart_controls)
        chart_layout.addWidget(self.chart, 1)
        c.seriesChanged.connect(self._on_series)

        self.actions_table = _table(c.actions, "salesActions", stretch=1)
        actions_box = QGroupBox("Sales actions")
        QVBoxLayout(actions_box).addWidget(self.actions_table)
        self.projects_table = _table(c.projects, "salesByProject", stretch=0)
        projects_box = QGroupBox("By project")
        QVBoxLayout(projects_box).addWidget(self.projects_table)

        middle = QSplitter(Qt.Orientation.Horizontal)
        middle.addWidget(chart_box)
        middle.addWidget(actions_box)
        middle.setStretchFactor(0, 3)
        middle.setStretchFactor(1, 2)
        lower = QSplitter(Qt.Orientation.Vertical)
        lower.addWidget(middle)
        lower.addWidget(projects_box)
        lower.setStretchFactor(0, 3)
        lower.setStretchFactor(1, 2)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.banner)
        layout.addWidget(self.yesterday_box)
        layout.addLayout(cards)
        layout.addWidget(lower, 1)
        c.overviewChanged.connect(self._on_overview)
        c.start()

    # -- showing -------------------------------------------------------------------------------

    def _fill_cards(self) -> None:
        model: KpiModel = self.controller.kpis
        for column, (card, kpi) in enumerate(zip(self.cards, KPIS, strict=True)):
            values = [model.text(f, kpi) for f in model.figures]
            details = [model.index(row, column).data(Qt.ItemDataRole.ToolTipRole) or ""
                       for row in range(model.rowCount())]
            card.set_lines(values, details)

    def _on_overview(self, overview: SalesOverview) -> None:
        self.sources.setText("Sources: " + " · ".join(
            f"{s.label} {'connected' if s.connected else 'not connected'}"
            for s in overview.sources))
        self.sources.setToolTip(overview.hint)
        self.sync_button.setEnabled(self.controller.can_sync)
        self.sync_button.setToolTip("" if self.controller.can_sync else overview.hint)
        if overview.has_sales:
            self.banner.setVisible(False)
        else:
            self.banner.setText("<b>No sales recorded yet.</b> " + escape(overview.hint)
                                + " Import with <code>titan sales import FILE.csv</code>.")
            self.banner.setVisible(True)
        y = overview.yesterday
        self.yesterday_box.setTitle(f"Yesterday's performance ({y.day:%A %d %B})")
        income = "\n".join(format_money(v, cur) for cur, v, _ in y.income)
        self.income.value.setText(income or ("no sales" if overview.has_sales else NO_FIGURE))
        self.content.value.setText(f"{y.content_created:,}")
        self.messages.value.setText(f"{y.messages_sent:,}")

    def _on_series(self, series: RevenueSeries) -> None:
        current = self.currency.currentText()
        currencies = list(series.values)
        if currencies != [self.currency.itemText(i) for i in range(self.currency.count())]:
            self.currency.blockSignals(True)
            self.currency.clear()
            self.currency.addItems(currencies)
            # Keep the person's choice; else the currency that sold on the most days. (Not
            # the biggest sum: 1,200 yen is not more than 199 dollars.)
            best = min(currencies, default="",
                       key=lambda cur: (-sum(1 for v in series.values[cur] if v), cur))
            self.currency.setCurrentText(current if current in currencies else best)
            self.currency.blockSignals(False)
        self.currency.setVisible(len(currencies) > 1)
        self._draw_chart()

    def _draw_chart(self) -> None:
        series = self.controller.series
        if series is not None:
            self.chart.show_series(series, self.currency.currentText() or None)

    # -- actions -------------------------------------------------------------------------------

    def open_record_dialog(self) -> RecordOrderDialog:
        # One dialog, kept and reset: it stays connected to the controller's signals, so
        # deleting it while a reply may still arrive would only invite trouble.
        if self.dialog is None:
            self.dialog = RecordOrderDialog(self.controller, self)
        self.dialog.reset()
        self.dialog.open()
        return self.dialog
