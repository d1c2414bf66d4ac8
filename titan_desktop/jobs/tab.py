"""The Queue tab: a QTabWidget of views over the whole queue. Jobs is the first sub-tab;
another view is one line in ``QueueTab.__init__`` (or on the window's ``queue_tab``):
``self.addTab(WorkersView(ctx), "Workers")``."""

from __future__ import annotations

from PySide6.QtWidgets import QTabWidget, QWidget

from titan_desktop.context import AppContext
from titan_desktop.jobs.view import JobsView


class QueueTab(QTabWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("queueTabs")
        self.setDocumentMode(True)
        self.jobs = JobsView(ctx)
        self.addTab(self.jobs, "Jobs")
