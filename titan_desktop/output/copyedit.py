"""The Output tab's Copy panel: the model-written copy of a project that awaits approval (the
tagline, the about text, one paragraph per feature, the bio), each in a text box a person can
edit before approving. "Save changes" hands the edit to ``worker.services.copy`` through the
controller (validated, written, the site rendered again; the preview then reloads)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from titan_desktop import palette
from worker.services.copy import CopyField, ProjectCopy

Editor = QLineEdit | QPlainTextEdit


def _text(editor: Editor) -> str:
    return editor.text() if isinstance(editor, QLineEdit) else editor.toPlainText()


class CopyPanel(QGroupBox):
    """Shows one project's copy; ``saveRequested`` carries the changed fields (key -> text)."""

    saveRequested = Signal(object)  # dict[str, str]

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Copy written by the model", parent)
        self.setObjectName("copyPanel")
        self.copy: ProjectCopy | None = None
        self.editors: dict[str, Editor] = {}
        self._saved: dict[str, str] = {}  # the texts as last loaded (what "changed" is against)

        self.intro = QLabel("Edit a text and save: the preview shows the site as it will be "
                            "published. Approving publishes what the preview shows.")
        self.intro.setObjectName("hint")
        self.intro.setWordWrap(True)
        self.form_host = QWidget()
        self.form = QFormLayout(self.form_host)
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        self.fields_area = QScrollArea()
        self.fields_area.setWidgetResizable(True)
        self.fields_area.setWidget(self.form_host)
        self.fields_area.setFrameShape(QScrollArea.Shape.NoFrame)

        self.status = QLabel("")
        self.status.setObjectName("copyStatus")
        self.status.setWordWrap(True)
        self.revert_button = QPushButton("Undo changes")
        self.revert_button.setObjectName("copyRevertButton")
        self.revert_button.clicked.connect(self.revert)
        self.save_button = QPushButton("Save changes")
        self.save_button.setObjectName("copySaveButton")
        self.save_button.clicked.connect(self._save)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.fields_area, 1)
        layout.addLayout(buttons)
        self.setVisible(False)
        self._update_buttons()

    # -- what the controller says ------------------------------------------------------------

    def show_copy(self, copy: ProjectCopy | None) -> None:
        """Show ``copy`` when it can be edited now; hide the panel otherwise. A reload of the
        same project keeps what the person typed and has not saved yet."""
        if copy is None or not copy.editable:
            self.copy = None
            self.setVisible(False)
            return
        same = self.copy is not None and self.copy.project_id == copy.project_id
        keys = [f.key for f in copy.fields]
        if same and self.dirty() and keys == list(self.editors):
            self.copy = copy
            self.setVisible(True)
            return
        self.copy = copy
        self._build(copy.fields)
        self.setVisible(True)
        if not same:
            self.status.setText("")

    def saved(self, ok: bool, message: str) -> None:
        """The outcome of a save: success makes the typed text the saved text."""
        self.status.setText(message)
        self.status.setProperty("error", not ok)
        self.status.setStyleSheet("" if ok else f"color: {palette.DANGER};")
        if ok:
            self._saved = {key: _text(editor).strip() for key, editor in self.editors.items()}
            for key, editor in self.editors.items():
                if _text(editor) != self._saved[key]:
                    self._set(editor, self._saved[key])
        self.setEnabled(True)
        self._update_buttons()

    # -- the person's edits ------------------------------------------------------------------

    def changes(self) -> dict[str, str]:
        """Fields whose text differs from the saved copy (surrounding blanks do not count)."""
        return {key: _text(editor) for key, editor in self.editors.items()
                if _text(editor).strip() != self._saved.get(key, "")}

    def dirty(self) -> bool:
        return bool(self.changes())

    def revert(self) -> None:
        for key, editor in self.editors.items():
            self._set(editor, self._saved.get(key, ""))
        self.status.setText("")
        self._update_buttons()

    def _save(self) -> None:
        changes = self.changes()
        if not changes:
            return
        self.status.setStyleSheet("")
        self.status.setText("Saving and rendering the site again…")
        self.setEnabled(False)  # until the service answers (``saved``)
        self.saveRequested.emit(changes)

    # -- widgets -------------------------------------------------------------------------------

    def _build(self, fields: list[CopyField]) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors = {}
        self._saved = {}
        for fld in fields:
            editor: Editor
            if fld.multiline:
                editor = QPlainTextEdit()
                editor.setTabChangesFocus(True)
                lines = 4 if fld.key in ("about",) else 3
                height = editor.fontMetrics().lineSpacing() * lines + 12
                editor.setFixedHeight(height)
                editor.setPlainText(fld.value)
                editor.textChanged.connect(self._update_buttons)
            else:
                editor = QLineEdit(fld.value)
                editor.textChanged.connect(self._update_buttons)
            editor.setObjectName(f"copy:{fld.key}")
            hints = []
            if fld.max_length:
                hints.append(f"at most {fld.max_length} characters")
            if fld.required:
                hints.append("required")
            elif "[" in fld.key:
                hints.append("empty: the template's own sentence")
            editor.setToolTip("; ".join(hints))
            editor.setPlaceholderText("; ".join(hints))
            label = QLabel(fld.label)
            label.setToolTip(fld.key)
            self.form.addRow(label, editor)
            self.editors[fld.key] = editor
            self._saved[fld.key] = fld.value
        self._update_buttons()

    @staticmethod
    def _set(editor: Editor, text: str) -> None:
        if isinstance(editor, QLineEdit):
            editor.setText(text)
        else:
            editor.setPlainText(text)

    def _update_buttons(self) -> None:
        dirty = self.dirty()
        self.save_button.setEnabled(dirty)
        self.revert_button.setEnabled(dirty)
