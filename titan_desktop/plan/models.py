"""The proposed plan as an editable tree: features → milestones → goals.

Titles are edited in place (an empty title is refused, the old one stays); a goal's pipeline step
is picked from the five steps. Items are added under the selected one or removed with their
children. ``nodes()`` gives the tree back as ``PlanNode``s for ``ProjectService.create``.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QComboBox, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from titan_desktop.models import Node, TreeModel
from worker.db.models import PIPELINE_STEPS
from worker.templates import PlanNode

Index = QModelIndex | QPersistentModelIndex
TITLE_COLUMN = 0
STEP_COLUMN = 1
CHILD_KIND = {"feature": "milestone", "milestone": "goal"}
NEW_TITLE = {"feature": "New feature", "milestone": "New milestone", "goal": "New goal"}


class EditablePlanModel(TreeModel):
    """Nodes hold ``[title, step]``; the payload is the kind (feature | milestone | goal)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(["Plan: features → milestones → goals", "Step"], parent)
        self.edited = False  # the person changed something since ``set_plan``

    def set_plan(self, nodes: list[PlanNode]) -> None:
        self.set_roots([_node(n) for n in nodes])
        self.edited = False

    def nodes(self) -> list[PlanNode]:
        return [_plan_node(n) for n in self.root.children]

    def kind(self, index: Index) -> str | None:
        return self.node(index).payload if index.isValid() else None

    # -- editing -------------------------------------------------------------------------------

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == TITLE_COLUMN or self.kind(index) == "goal":
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        node = self.node(index)
        if role == Qt.ItemDataRole.EditRole:
            return node.values[index.column()] or ""
        if role == Qt.ItemDataRole.FontRole and node.payload == "feature":
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            if index.column() == STEP_COLUMN and node.payload == "goal":
                return "The pipeline step whose success ticks this goal off"
            return f"A {node.payload}: double-click to rename"
        return super().data(index, role)

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid() or role != Qt.ItemDataRole.EditRole:
            return False
        node = self.node(index)
        text = " ".join(str(value or "").split())
        if index.column() == TITLE_COLUMN:
            if not text:
                return False  # an empty title is refused; the old one stays
            node.values[TITLE_COLUMN] = text
        elif index.column() == STEP_COLUMN and node.payload == "goal":
            if text not in PIPELINE_STEPS:
                return False
            node.values[STEP_COLUMN] = text
        else:
            return False
        self.edited = True
        self.dataChanged.emit(index, index)
        return True

    def add(self, kind: str, under: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        """Add a new ``kind`` item: a feature at the top; a milestone in the feature ``under``
        is (or is in); a goal in the milestone ``under`` is (or is in). Returns its index, or
        an invalid index when there is nowhere to put it."""
        parent: Node = self.root
        if kind != "feature":
            target = self.node(under) if under.isValid() else None
            wanted = {"milestone": "feature", "goal": "milestone"}[kind]
            while target is not None and target is not self.root and target.payload != wanted:
                target = target.parent
            if target is None or target is self.root:
                return QModelIndex()
            parent = target
        node = Node([NEW_TITLE[kind], PIPELINE_STEPS[0] if kind == "goal" else ""],
                    payload=kind)
        self.edited = True
        return self.append(node, parent)

    def remove(self, index: Index) -> bool:
        if not index.isValid():
            return False
        node = self.node(index)
        parent = node.parent or self.root
        row = node.row()
        parent_index = (QModelIndex() if parent is self.root
                        else self.createIndex(parent.row(), 0, parent))
        self.beginRemoveRows(parent_index, row, row)
        parent.children.pop(row)
        node.parent = None
        self.endRemoveRows()
        self.edited = True
        return True

    def find(self, title: str) -> QModelIndex:
        """The first item titled ``title`` (depth first), or an invalid index."""
        def walk(node: Node) -> Node | None:
            for child in node.children:
                if child.values[TITLE_COLUMN] == title:
                    return child
                found = walk(child)
                if found is not None:
                    return found
            return None

        found = walk(self.root)
        return self.createIndex(found.row(), 0, found) if found else QModelIndex()


def _node(plan: PlanNode) -> Node:
    node = Node([plan.title, plan.step or ""], payload=plan.kind)
    for child in plan.children:
        node.add(_node(child))
    return node


def _plan_node(node: Node) -> PlanNode:
    kind = str(node.payload)
    return PlanNode(str(node.values[TITLE_COLUMN]), kind,
                    (str(node.values[STEP_COLUMN]) or None) if kind == "goal" else None,
                    children=[_plan_node(c) for c in node.children])


class StepDelegate(QStyledItemDelegate):
    """A goal's step is chosen from the pipeline's five steps."""

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem,
                     index: Index) -> QWidget:
        combo = QComboBox(parent)
        combo.addItems(list(PIPELINE_STEPS))
        return combo

    def setEditorData(self, editor: QWidget, index: Index) -> None:
        if isinstance(editor, QComboBox):
            editor.setCurrentText(str(index.data(Qt.ItemDataRole.EditRole) or PIPELINE_STEPS[0]))

    def setModelData(self, editor: QWidget, model: Any, index: Index) -> None:
        if isinstance(editor, QComboBox):
            model.setData(index, editor.currentText(), Qt.ItemDataRole.EditRole)
