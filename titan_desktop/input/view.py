"""Input tab: a new project on the left (described in words for the AI to plan, or filled in on
the form), the chat with Jason on the right."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QSplitter, QTabWidget, QVBoxLayout, QWidget

from titan_desktop.context import AppContext
from titan_desktop.input.chat import ChatPanel
from titan_desktop.input.form import ProjectForm
from titan_desktop.plan.view import DescribePanel
from worker.db.models import Project


class InputTab(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.describe = DescribePanel(ctx)
        self.form = ProjectForm(ctx)
        self.chat_panel = ChatPanel(ctx)
        self.chat = self.chat_panel.controller

        self.ways = QTabWidget()
        self.ways.setObjectName("newProjectWays")
        self.ways.setDocumentMode(True)
        self.ways.addTab(self.describe, "Describe it")
        self.ways.addTab(self.form, "Fill in the form")
        if self.describe.controller.off_reason() is not None:
            self.ways.setCurrentWidget(self.form)  # AI is off: the way that works comes first
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(QLabel("<h3>New project</h3>"))
        left_layout.addWidget(self.ways, 1)
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
        self.describe.controller.created.connect(self._thread_described_project)

    def _thread_form_project(self, project: Project) -> None:
        message = self.chat.post("Form", f"created project {project.name}")
        self.chat.link_project(project.id, message)

    def _thread_described_project(self, project: Project) -> None:
        message = self.chat.post("Describe it", f"created project {project.name} from the "
                                 f"AI's plan (template {project.template_ref})")
        self.chat.link_project(project.id, message)
