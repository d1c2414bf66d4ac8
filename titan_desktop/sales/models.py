"""Item models of the Sales tab: KPIs per currency, sales per project, the sales action log."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from titan_desktop.models import Column, RowTableModel
from titan_desktop.palette import DANGER, TEXT_WARN
from worker.sales.activity import SalesAction, source_label
from worker.sales.money import format_money
from worker.sales.summary import CurrencyFigures, ProjectSales

Index = QModelIndex | QPersistentModelIndex
REFUND_COLOR = QColor(DANGER)
PENDING_COLOR = QColor(TEXT_WARN)


@dataclass(frozen=True)
class Kpi:
    title: str
    value: Callable[[CurrencyFigures], int]
    money: bool = True
    detail: Callable[[CurrencyFigures], str] | None = None


KPIS: tuple[Kpi, ...] = (
    Kpi("Revenue today", lambda c: c.revenue_today),
    Kpi("Last 7 days", lambda c: c.revenue_7d),
    Kpi("Last 30 days", lambda c: c.revenue_30d),
    Kpi("All time", lambda c: c.revenue_all),
    Kpi("Orders", lambda c: c.orders, money=False,
        detail=lambda c: f"{c.pending} pending ({c.currency})" if c.pending else ""),
    Kpi("Average order", lambda c: c.average_order),
    Kpi("Refunds", lambda c: c.refunded_minor,
        detail=lambda c: (f"{c.refunds} {c.currency} order{'s' if c.refunds != 1 else ''}"
                          if c.refunds else "")),
)


class KpiModel(QAbstractTableModel):
    """Rows are currencies, columns are KPIs; the cards and their tooltips read from it."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.figures: list[CurrencyFigures] = []

    def set_figures(self, figures: Sequence[CurrencyFigures]) -> None:
        self.beginResetModel()
        self.figures = list(figures)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.figures)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(KPIS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return KPIS[section].title if 0 <= section < len(KPIS) else None
        return self.figures[section].currency if 0 <= section < len(self.figures) else None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.figures):
            return None
        figures, kpi = self.figures[index.row()], KPIS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(figures, kpi)
        if role == Qt.ItemDataRole.ToolTipRole:
            return kpi.detail(figures) if kpi.detail else None
        return None

    @staticmethod
    def text(figures: CurrencyFigures, kpi: Kpi) -> str:
        value = kpi.value(figures)
        # Counts carry their currency's code so "4" is never read as a total of all currencies.
        return format_money(value, figures.currency) if kpi.money \
            else f"{value:,} {figures.currency}"


def project_sales_model(parent: Any = None) -> RowTableModel:
    def last_sale(p: ProjectSales) -> str:
        return p.last_sale.astimezone().strftime("%Y-%m-%d %H:%M") if p.last_sale else "—"

    def price(p: ProjectSales) -> str:
        if p.price_minor is None:
            return ""
        return format_money(p.price_minor, p.price_currency or p.currency)

    return RowTableModel([
        Column("Project", lambda p: p.name, tooltip=lambda p: p.slug or None),
        Column("Currency", lambda p: p.currency),
        Column("Orders", lambda p: f"{p.orders:,}", align_right=True),
        Column("Revenue", lambda p: format_money(p.revenue, p.currency), align_right=True),
        Column("Refunds", lambda p: f"{p.refunds:,}" if p.refunds else "", align_right=True),
        Column("Price", price, align_right=True),
        Column("Last sale", last_sale),
    ], key=lambda p: (p.project_id, p.currency), parent=parent)


def actions_model(parent: Any = None) -> RowTableModel:
    colors = {"refund": REFUND_COLOR, "pending": PENDING_COLOR}
    return RowTableModel([
        Column("When", lambda a: a.at.astimezone().strftime("%Y-%m-%d %H:%M")),
        Column("Action", lambda a: a.text, tooltip=lambda a: a.text,
               foreground=lambda a: colors.get(a.kind)),
        Column("Source", lambda a: source_label(a.source)),
    ], key=lambda a: a.order_id, parent=parent)


__all__ = ["KPIS", "Kpi", "KpiModel", "SalesAction", "actions_model", "project_sales_model"]
