"""Form fields built from a template's ``spec_schema`` (JSON Schema).

Each field knows its path in the project body (``spec.persona.role``) so a validation error from
the service (``InvalidInput("spec.features[2]", ...)``) lands next to the widget it is about.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

# Used when a template says nothing about its spec: what persona/basic-like templates take.
DEFAULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "description": {"type": "string", "title": "Description", "maxLength": 5000},
        "features": {"type": "array", "title": "Features", "items": {"type": "string"}},
        "persona": {"type": "object", "title": "Persona", "properties": {
            "name": {"type": "string", "title": "Name"},
            "role": {"type": "string", "title": "Role"},
            "tagline": {"type": "string", "title": "Tagline"},
            "bio": {"type": "string", "title": "Bio", "maxLength": 2000},
        }},
    },
}


LONG_TEXT_NAMES = {"description", "bio", "about", "summary", "notes", "body"}


def error_label() -> QLabel:
    label = QLabel("")
    label.setObjectName("fieldError")
    label.setWordWrap(True)
    label.setVisible(False)
    return label


@dataclass
class SpecField:
    path: str  # "spec.features"
    widget: QWidget
    read: Callable[[], Any]  # the value, or None to leave the key out
    write: Callable[[Any], None]
    error: QLabel


def _label(name: str, schema: dict[str, Any]) -> str:
    return str(schema.get("title") or name.replace("_", " ").capitalize())


def build_fields(schema: dict[str, Any] | None, layout: QFormLayout,
                 prefix: str = "spec") -> list[SpecField]:
    """Add a row per property to ``layout``; returns the fields (nested objects flattened)."""
    properties = (schema or {}).get("properties") or DEFAULT_SCHEMA["properties"]
    required = set((schema or {}).get("required") or [])
    fields: list[SpecField] = []
    for name, prop in properties.items():
        if not isinstance(prop, dict):
            continue
        path = f"{prefix}.{name}"
        title = _label(name, prop) + (" *" if name in required else "")
        if prop.get("type") == "object" and isinstance(prop.get("properties"), dict):
            box = QGroupBox(title)
            inner = QFormLayout(box)
            children = build_fields(prop, inner, path)
            # An error about the object itself (unknown key) shows under the group.
            error = error_label()
            inner.addRow(error)
            fields.append(SpecField(path, box, lambda: None, lambda _v: None, error))
            fields.extend(children)
            layout.addRow(box)
            continue
        field = _field(path, prop)
        if prop.get("description"):
            field.widget.setToolTip(str(prop["description"]))
        holder = QWidget()
        column = QVBoxLayout(holder)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(field.widget)
        column.addWidget(field.error)
        layout.addRow(title, holder)
        fields.append(field)
    return fields


def _field(path: str, prop: dict[str, Any]) -> SpecField:
    kind = prop.get("type")
    default = prop.get("default")
    error = error_label()
    placeholder = str(prop.get("description") or "")
    if "enum" in prop:
        combo = QComboBox()
        for option in prop["enum"]:
            combo.addItem(str(option), option)
        if default in prop["enum"]:
            combo.setCurrentIndex(prop["enum"].index(default))
        return SpecField(path, combo, combo.currentData,
                         lambda v: combo.setCurrentIndex(max(0, combo.findData(v))), error)
    if kind == "boolean":
        box = QCheckBox()
        box.setChecked(bool(default))
        return SpecField(path, box, box.isChecked, lambda v: box.setChecked(bool(v)), error)
    if kind == "integer":
        spin = QSpinBox()
        spin.setRange(int(prop.get("minimum", -(2**31))), int(prop.get("maximum", 2**31 - 1)))
        spin.setValue(int(default or 0))
        return SpecField(path, spin, spin.value, lambda v: spin.setValue(int(v or 0)), error)
    if kind == "number":
        dspin = QDoubleSpinBox()
        dspin.setRange(float(prop.get("minimum", -1e12)), float(prop.get("maximum", 1e12)))
        dspin.setValue(float(default or 0))
        return SpecField(path, dspin, dspin.value, lambda v: dspin.setValue(float(v or 0)),
                         error)
    if kind == "array":
        edit = QPlainTextEdit()
        edit.setPlaceholderText("One per line" + (f" — {placeholder}" if placeholder else ""))
        edit.setFixedHeight(72)
        if default:
            edit.setPlainText("\n".join(map(str, default)))

        def read_list() -> list[str] | None:
            items = [line.strip() for line in edit.toPlainText().splitlines() if line.strip()]
            return items or None

        return SpecField(path, edit, read_list,
                         lambda v: edit.setPlainText("\n".join(map(str, v or []))), error)
    name = path.rsplit(".", 1)[-1]
    long_text = int(prop.get("maxLength") or 0) > 2000 or name in LONG_TEXT_NAMES
    if long_text:
        text = QPlainTextEdit()
        text.setPlaceholderText(placeholder)
        text.setFixedHeight(64)
        if default:
            text.setPlainText(str(default))
        return SpecField(path, text, lambda: text.toPlainText().strip() or None,
                         lambda v: text.setPlainText(str(v or "")), error)
    line = QLineEdit()
    line.setPlaceholderText(placeholder)
    if default:
        line.setText(str(default))
    return SpecField(path, line, lambda: line.text().strip() or None,
                     lambda v: line.setText(str(v or "")), error)


def read_spec(fields: list[SpecField]) -> dict[str, Any]:
    """The spec the fields describe; empty values are left out (the schema fills defaults)."""
    spec: dict[str, Any] = {}
    for field in fields:
        value = field.read()
        if value is None or value == "":
            continue
        parts = field.path.split(".")[1:]
        target = spec
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return spec


def write_spec(fields: list[SpecField], spec: dict[str, Any]) -> None:
    for field in fields:
        value: Any = spec
        for part in field.path.split(".")[1:]:
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None or not isinstance(field.widget, QGroupBox):
            field.write(value)
