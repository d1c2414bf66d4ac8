"""Settings dialog: every field of ``worker.config.Settings``; the AI and backup ones on pages
of their own (titan_desktop/ai_settings.py, titan_desktop/backups_panel.py).

Saved to ``TITAN_HOME/settings.json`` keyed by env var name (config.py reads it back; the
environment still wins). Secrets go to the OS keyring when one is available, else into the file
(readable only by its owner); they are never shown, only replaced.
"""

from __future__ import annotations

import json
import os
import typing
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, SecretStr, ValidationError
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from titan_desktop.ai_settings import AI_FIELDS, AIPage
from titan_desktop.backups_panel import BACKUP_FIELDS, BackupsPage
from titan_desktop.input.schema_form import error_label
from titan_desktop.jason.voice_settings import VOICE_FIELDS, VoicePage
from titan_desktop.secrets import keyring_available, set_secret
from worker.ai.discovery import OLLAMA_BASE
from worker.config import Settings, settings_file

SECRET_HINT = "•••••• (set — type to replace, clear to remove)"


def env_name(field_name: str) -> str:
    alias = Settings.model_fields[field_name].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return str(alias or field_name.upper())


def _base_type(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, __import__("types").UnionType):
        return _base_type(args[0]) if args else annotation
    if typing.get_origin(annotation) is typing.Annotated:
        return _base_type(args[0])
    return annotation


class SettingEditor:
    """One row: reads the widget back as the value to save (None = leave unset)."""

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.env = env_name(name)
        field = Settings.model_fields[name]
        self.kind = _base_type(field.annotation)
        self.secret = self.kind is SecretStr
        self.optional = type(None) in typing.get_args(field.annotation)
        self.error = error_label()
        current = getattr(settings, name)
        self.had_secret = self.secret and current is not None
        self.widget: QWidget
        if self.secret:
            self.edit = QLineEdit()
            self.edit.setEchoMode(QLineEdit.EchoMode.Password)
            self.edit.setPlaceholderText(SECRET_HINT if self.had_secret else "not set")
            self.widget = self.edit
        elif self.kind is bool:
            self.check = QCheckBox()
            self.check.setChecked(bool(current))
            self.widget = self.check
        elif self.kind is int:
            self.spin = QSpinBox()
            self.spin.setRange(0, 10**9)
            if self.optional:  # 0 shows as "not set" (such limits are at least 1)
                self.spin.setSpecialValueText("not set")
            self.spin.setValue(int(current or 0))
            self.widget = self.spin
        elif self.kind is float:
            self.dspin = QDoubleSpinBox()
            self.dspin.setRange(0, 10**6)
            self.dspin.setDecimals(2)
            self.dspin.setValue(float(current))
            self.widget = self.dspin
        elif typing.get_origin(self.kind) is list:
            self.lines = QPlainTextEdit("\n".join(current or []))
            self.lines.setFixedHeight(90)
            self.lines.setPlaceholderText("One glob per line")
            self.widget = self.lines
        else:
            self.edit = QLineEdit("" if current is None else str(current))
            self.widget = self.edit
            if self.kind is Path:
                holder = QWidget()
                row = QHBoxLayout(holder)
                row.setContentsMargins(0, 0, 0, 0)
                row.addWidget(self.edit, 1)
                browse = QPushButton("Browse…")
                browse.clicked.connect(self._browse)
                row.addWidget(browse)
                self.widget = holder
        if field.description:
            self.widget.setToolTip(field.description)

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self.widget, f"Choose {self.env}",
                                                  self.edit.text())
        if chosen:
            self.edit.setText(chosen)

    def value(self) -> Any:
        """The value to save; for secrets, ``...`` means 'unchanged'."""
        if self.secret:
            text = self.edit.text().strip()
            return text if text else (... if self.had_secret and not self.cleared else None)
        if self.kind is bool:
            return self.check.isChecked()
        if self.kind is int:
            return None if self.optional and self.spin.value() == 0 else self.spin.value()
        if self.kind is float:
            return self.dspin.value()
        if typing.get_origin(self.kind) is list:
            return [line.strip() for line in self.lines.toPlainText().splitlines()
                    if line.strip()]
        text = self.edit.text().strip()
        return text or None

    cleared = False


class SettingsDialog(QDialog):
    """Two pages: "General" (every other setting) and "AI" (titan_desktop/ai_settings.py)."""

    def __init__(self, settings: Settings, parent: QWidget | None = None, *,
                 ollama_base: str = OLLAMA_BASE) -> None:
        super().__init__(parent)
        self.setWindowTitle("Titan settings")
        self.resize(760, 640)
        self.settings = settings
        self.saved = False
        self.path = settings_file(settings.titan_home)
        self.keyring = keyring_available()
        self.editors = [SettingEditor(name, settings) for name in Settings.model_fields]

        form = QFormLayout()
        for editor in self.editors:
            if editor.name not in AI_FIELDS | VOICE_FIELDS | set(BACKUP_FIELDS):
                form.addRow(editor.env, self.row(editor))
        inner = QWidget()
        inner.setLayout(form)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        self.ai_page = AIPage(self, ollama_base=ollama_base)
        self.pages = QTabWidget()
        self.pages.setDocumentMode(True)
        self.pages.addTab(scroll, "General")
        self.pages.addTab(self.ai_page, "AI")
        self.backups_page = BackupsPage(self)
        self.pages.addTab(self.backups_page, "Backups")
        self.voice_page = VoicePage(self.editor("jason_voice").edit,
                                    self.editor("jason_rate").spin)
        self.pages.addTab(self.voice_page, "Jason's voice")

        where = ("Tokens are stored in the OS keyring." if self.keyring else
                 "No OS keyring is available: tokens are stored in settings.json, readable "
                 "only by you.")
        intro = QLabel(f"Saved to {self.path}. {where} Restart Titan to apply changes.")
        intro.setWordWrap(True)
        intro.setObjectName("hint")
        self.general_error = error_label()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.general_error)
        layout.addWidget(buttons)

    def editor(self, name: str) -> SettingEditor:
        return next(e for e in self.editors if e.name == name)

    def row(self, editor: SettingEditor) -> QWidget:
        """The editor's widget with its notes: overridden by the environment, remove, error."""
        holder = QWidget()
        column = QVBoxLayout(holder)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(editor.widget)
        if os.environ.get(editor.env) and editor.name != "titan_home":
            note = QLabel(f"{editor.env} is set in the environment, which overrides this.")
            note.setObjectName("hint")
            column.addWidget(note)
        if editor.secret and editor.had_secret:
            clear = QCheckBox("Remove the stored value")
            clear.toggled.connect(lambda on, e=editor: setattr(e, "cleared", on))
            column.addWidget(clear)
        column.addWidget(editor.error)
        return holder

    def done(self, result: int) -> None:
        self.ai_page.stop()  # a connection test or an Ollama look-up still under way
        self.backups_page.stop()
        self.voice_page.stop()
        super().done(result)

    def values(self) -> dict[str, Any]:
        return {editor.name: editor.value() for editor in self.editors}

    def save(self) -> bool:
        for editor in self.editors:
            editor.error.setVisible(False)
        values = self.values()
        check = {k: v for k, v in values.items() if v is not None and v is not ...}
        try:
            Settings(**check)
        except ValidationError as exc:
            for error in exc.errors():
                name = str(error["loc"][0]) if error["loc"] else ""
                match = next((e for e in self.editors if name in (e.name, e.env)), None)
                label = match.error if match else self.general_error
                label.setText(error["msg"])
                label.setVisible(True)
            return False
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                data = {}
        except (OSError, ValueError):
            data = {}
        for editor in self.editors:
            value = values[editor.name]
            if editor.name == "titan_home":
                continue  # where settings.json lives cannot be set from inside it
            if editor.secret:
                if value is ...:
                    continue
                if self.keyring and set_secret(editor.env, value):
                    data.pop(editor.env, None)
                    continue
            default = Settings.model_fields[editor.name].get_default(call_default_factory=True)
            if value is None or (not editor.secret and value == default):
                data.pop(editor.env, None)  # defaults stay defaults, so new releases can move them
            else:
                data[editor.env] = str(value) if isinstance(value, Path) else value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(self.path)
        self.saved = True
        self.accept()
        return True
