"""Stand-ins for optional tabs whose feature module is not installed."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from titan_desktop.context import AppContext
from titan_desktop.models import Column, RowTableModel


@dataclass(frozen=True)
class SalesSource:
    id: str
    name: str
    how: str


SOURCES = [
    SalesSource("stripe", "Stripe", "STRIPE_API_KEY in Settings; orders arrive by webhook"),
    SalesSource("shopify", "Shopify", "SHOPIFY_STORE and SHOPIFY_TOKEN in Settings"),
    SalesSource("manual", "Manual entry", "record an order by hand (titan sales record …)"),
]


def sales_sources_model(parent: object = None) -> RowTableModel:
    model = RowTableModel([
        Column("Source", lambda s: s.name),
        Column("Status", lambda s: "not connected"),
        Column("How to connect", lambda s: s.how),
    ], key=lambda s: s.id, parent=parent)
    model.set_rows(SOURCES)
    return model


class SalesPlaceholder(QWidget):
    """Shown until the Sales feature lands: which sources can be connected, no orders yet."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = sales_sources_model(self)
        intro = QLabel("<h3>Sales</h3>Sales of published projects will appear here once a "
                       "source is connected. Titan can take orders from:")
        intro.setWordWrap(True)
        table = QTableView()
        table.setModel(self.model)
        table.verticalHeader().setVisible(False)
        table.setShowGrid(False)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(table, 1)
