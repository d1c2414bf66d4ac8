"""The Input form's "Deploy to" rows: a combo of the deploy targets the chosen template supports
(worker/deploy) and one line per option of the chosen target, each with its error label."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QLineEdit, QWidget

from titan_desktop.input.schema_form import error_label
from worker.deploy import DEFAULT_TARGET, TARGETS


class DeployFields(QWidget):
    """``set_template`` offers that template's targets; ``value`` is (target, options)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.errors: dict[str, QLabel] = {}
        self.target = QComboBox()
        self.target.setObjectName("deployTarget")
        self.hint = QLabel("")
        self.hint.setObjectName("hint")
        self.hint.setWordWrap(True)
        self.layout_ = QFormLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.layout_.addRow(self.target)
        self.layout_.addRow(self.hint)
        self.errors["deployTarget"] = self._add_error()
        self.fields: dict[str, QLineEdit] = {}
        self.target.currentIndexChanged.connect(self._on_target)

    def _add_error(self) -> QLabel:
        label = error_label()
        self.layout_.addRow(label)
        return label

    def set_template(self, supported: tuple[str, ...]) -> None:
        self.target.blockSignals(True)
        self.target.clear()
        for name in supported:
            if name in TARGETS:
                self.target.addItem(TARGETS[name].title, name)
        self.target.setCurrentIndex(max(0, self.target.findData(DEFAULT_TARGET)))
        self.target.setEnabled(self.target.count() > 1)
        self.target.blockSignals(False)
        self._on_target()

    def _on_target(self) -> None:
        while self.layout_.rowCount() > 3:  # the combo, its hint, its error label stay
            self.layout_.removeRow(3)
        for key in [k for k in self.errors if k.startswith("deployConfig.")]:
            del self.errors[key]
        self.fields = {}
        target = TARGETS.get(self.target.currentData() or DEFAULT_TARGET)
        if target is None:
            return
        self.hint.setText("" if target.options else "Served on this machine while it runs.")
        self.hint.setVisible(not target.options)
        for option in target.options:
            edit = QLineEdit()
            edit.setObjectName(f"deploy_{option.name}")
            edit.setPlaceholderText(option.help)
            edit.setToolTip(option.help)
            self.layout_.addRow(option.name + (" *" if option.required else ""), edit)
            self.fields[option.name] = edit
            self.errors[f"deployConfig.{option.name}"] = self._add_error()

    def value(self) -> dict[str, Any]:
        """The body's deployTarget/deployConfig (nothing for the default, local)."""
        name = self.target.currentData() or DEFAULT_TARGET
        if name == DEFAULT_TARGET:
            return {}
        options = {k: e.text().strip() for k, e in self.fields.items() if e.text().strip()}
        return {"deployTarget": name, "deployConfig": options}
