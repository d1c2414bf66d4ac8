"""The "Record order" dialog: a sale made outside the connected sources, typed in by hand."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from titan_desktop.sales.controller import SalesController
from worker.db.models import Project
from worker.sales.money import to_decimal

CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD", "JPY", "CHF", "SEK", "INR", "BRL")
STATUSES = ("paid", "pending", "refunded")


class RecordOrderDialog(QDialog):
    def __init__(self, controller: SalesController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Record order")
        self.setMinimumWidth(420)
        self.controller = controller
        self.projects: list[Project] = []

        self.project = QComboBox()
        self.project.addItem("(no project)", None)
        self.project.currentIndexChanged.connect(self._project_chosen)
        self.customer = QLineEdit()
        self.customer.setPlaceholderText("Ann Lee")
        self.email = QLineEdit()
        self.email.setPlaceholderText("ann@example.com")
        self.amount = QLineEdit()
        self.amount.setPlaceholderText("129.00")
        self.currency = QComboBox()
        self.currency.setEditable(True)
        self.currency.addItems(CURRENCIES)
        self.status = QComboBox()
        self.status.addItems(STATUSES)
        self.date = QDateEdit(QDate.currentDate())
        self.date.setCalendarPopup(True)
        self.date.setDisplayFormat("yyyy-MM-dd")
        self.description = QLineEdit()
        self.description.setPlaceholderText("3 PDFs")
        self.error = QLabel("")
        self.error.setObjectName("fieldError")
        self.error.setWordWrap(True)
        self.fields: dict[str, QWidget] = {
            "project": self.project, "customer": self.customer, "email": self.email,
            "amount": self.amount, "currency": self.currency, "status": self.status,
            "date": self.date, "description": self.description,
        }

        form = QFormLayout()
        for label, name in (("Project", "project"), ("Customer", "customer"),
                            ("Email", "email"), ("Amount", "amount"),
                            ("Currency", "currency"), ("Status", "status"), ("Date", "date"),
                            ("Description", "description")):
            form.addRow(label, self.fields[name])
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        controller.recorded.connect(self._on_recorded)
        controller.recordFailed.connect(self._on_failed)

    def reset(self) -> None:
        """Empty form, today's date, the current list of published projects."""
        for line in (self.customer, self.email, self.amount, self.description):
            line.clear()
        self.status.setCurrentIndex(0)
        self.date.setDate(QDate.currentDate())
        self.error.setText("")
        self.buttons.setEnabled(True)
        self.controller.ctx.spawn(self._load_projects())

    async def _load_projects(self) -> None:
        projects = await self.controller.published_projects()
        self.project.blockSignals(True)
        while self.project.count() > 1:
            self.project.removeItem(1)
        self.projects = projects
        for project in projects:
            self.project.addItem(project.name, project.slug)
        self.project.setCurrentIndex(0)
        self.project.blockSignals(False)

    def _project_chosen(self, index: int) -> None:
        # A published project's price and currency are the usual sale: prefill them.
        project = self.projects[index - 1] if 0 < index <= len(self.projects) else None
        if project is None:
            return
        self.currency.setCurrentText(project.currency)
        if project.price_minor is not None and not self.amount.text().strip():
            self.amount.setText(str(to_decimal(project.price_minor, project.currency)))

    def body(self) -> dict[str, Any]:
        chosen = self.date.date()
        return {
            "project": self.project.currentData(), "customer": self.customer.text(),
            "email": self.email.text(), "amount": self.amount.text(),
            "currency": self.currency.currentText(), "status": self.status.currentText(),
            # Today means "now"; another day is that day's start.
            "date": (None if chosen == QDate.currentDate()
                     else chosen.toString(Qt.DateFormat.ISODate)),
            "description": self.description.text(),
        }

    def submit(self) -> None:
        self.error.setText("")
        self.buttons.setEnabled(False)
        self.controller.record(self.body())

    def _on_recorded(self, order: object) -> None:
        self.buttons.setEnabled(True)
        if self.isVisible():
            self.accept()

    def _on_failed(self, field: str, message: str) -> None:
        if not self.isVisible():
            return
        self.buttons.setEnabled(True)
        name = {"amountMinor": "amount", "externalId": "description"}.get(field, field)
        self.error.setText(f"{name.capitalize()}: {message}" if name else message)
        widget = self.fields.get(name)
        if widget is not None:
            widget.setFocus()
