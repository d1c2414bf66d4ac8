"""Progress tab: Delete… asks first; No keeps the project, Yes deletes it (real PostgreSQL).

The question's answer is patched in (a modal dialog's own event loop cannot run inside the
test's qasync task); the button, the tab and the deletion are real.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from tests.desktop.conftest import run, wait_until
from titan_desktop.context import AppContext
from titan_desktop.progress.view import ProgressTab
from worker.db.engine import Database
from worker.errors import TitanError


def test_delete_asks_first_and_no_keeps_the_project(settings, db_url: str, qloop, qtbot,
                                                    monkeypatch) -> None:
    asked: list[str] = []
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]

    def question(_parent, _title, text, *_args):  # type: ignore[no-untyped-def]
        asked.append(text)
        return answers[len(asked) - 1]

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))

    async def exists(ctx: AppContext, project_id: int) -> bool:
        try:
            await ctx.projects.get(project_id)
        except TitanError:
            return False
        return True

    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        try:
            project = await ctx.projects.create({"name": "Keep Me Please"})
            tab = ProgressTab(ctx)
            qtbot.addWidget(tab)
            tab.show()
            model = tab.controller.projects
            await wait_until(lambda: model.row_for_key(project.id) >= 0, 15, "the project row")
            tab.select_project(project.id)
            await wait_until(lambda: tab.delete_button.isEnabled(), 15, "the selection")

            qtbot.mouseClick(tab.delete_button, Qt.MouseButton.LeftButton)
            assert len(asked) == 1 and "Keep Me Please" in asked[0]
            assert "removes its work and output folders" in asked[0]
            assert await exists(ctx, project.id)  # "No": nothing was deleted

            qtbot.mouseClick(tab.delete_button, Qt.MouseButton.LeftButton)
            assert len(asked) == 2
            await wait_until(lambda: model.row_for_key(project.id) < 0, 15, "the row to go")
            assert not await exists(ctx, project.id)
            assert tab.feedback.text() == "Keep Me Please: deleted"
            tab.close()
            await ctx.cancel_tasks()
        finally:
            await db.dispose()

    run(qloop, body())
