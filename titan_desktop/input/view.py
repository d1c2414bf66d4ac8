"""Input tab: the new-project form on the left, the chat with Jason on the right."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from titan_desktop.context import AppContext
from titan_desktop.input.chat import ChatPanel
from titan_desktop.input.form import ProjectForm
from worker.db.models import Project


class InputTab(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.form = ProjectForm(ctx)
        self.chat_panel = ChatPanel(ctx)
        self.chat = self.chat_panel.controller

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(QLabel("<h3>New project</h3>"))
        left_layout.addWidget(self.form, 1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(QLabel("<h3>Jason</h3>"))
        right_layout.addWidget(self.chat_panel, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([560, 520])
        QVBoxLayout(self).addWidget(split)
        self.form.controller.created.connect(self._thread_form_project)

    def _thread_form_project(self, project: Project) -> None:
        message = self.chat.post("Form", f"created project {project.name}")
        self.chat.link_project(project.id, message)
