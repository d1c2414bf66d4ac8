"""Progress tab: search, filter and sort the projects; Edit spec… checks the edit against the
template's schema and rebuilds (real PostgreSQL, the real services behind the tab)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, Qt
from sqlalchemy import text

from tests.desktop.conftest import run, wait_until
from titan_desktop.context import AppContext
from titan_desktop.progress.view import ProgressTab
from titan_desktop.window import save_screenshot
from worker.db.engine import Database

SHOTS = Path(os.environ.get("TITAN_SHOTS", "/work/wt/shots"))


def _names(tab: ProgressTab) -> list[str]:
    return [p.name for p in tab.controller.projects.rows]


def _click_header(qtbot: Any, tab: ProgressTab, column: int) -> None:
    header = tab.table.horizontalHeader()
    x = header.sectionViewportPosition(column) + header.sectionSize(column) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(x, header.height() // 2))


def test_search_filter_and_sort_the_projects(settings, db_url: str, qloop, qtbot) -> None:
    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        try:
            for name, template in (("Sunflower Bakery", "persona/basic"),
                                   ("Moon Tool", "python/cli"),
                                   ("Orders Api", "fastapi/service"),
                                   ("Apple Bakery", "persona/basic")):
                await ctx.projects.create({"name": name, "templateRef": template})
            async with db.session() as session:
                await session.execute(text("UPDATE projects SET status = 'failed' "
                                           "WHERE slug IN ('moon-tool', 'apple-bakery')"))
            tab = ProgressTab(ctx)
            qtbot.addWidget(tab)
            tab.resize(1100, 700)
            tab.show()
            everything = ["Apple Bakery", "Orders Api", "Moon Tool", "Sunflower Bakery"]
            await wait_until(lambda: _names(tab) == everything, 15, "newest first")

            qtbot.keyClicks(tab.search, "bakery")
            await wait_until(lambda: _names(tab) == ["Apple Bakery", "Sunflower Bakery"], 15,
                             "the search by name")
            assert tab.shown.text() == "2 matches"
            save_screenshot(tab, SHOTS / "alerts-project-search.png")
            tab.search.clear()
            qtbot.keyClicks(tab.search, "python/cli")  # the template
            await wait_until(lambda: _names(tab) == ["Moon Tool"], 15, "the search by template")
            tab.search.clear()
            await wait_until(lambda: _names(tab) == everything, 15, "all again")

            tab.status_filter.setCurrentIndex(tab.status_filter.findData("failed"))
            await wait_until(lambda: _names(tab) == ["Apple Bakery", "Moon Tool"], 15,
                             "failed projects only")
            qtbot.keyClicks(tab.search, "moon")
            await wait_until(lambda: _names(tab) == ["Moon Tool"], 15, "failed and 'moon'")
            tab.search.clear()
            tab.status_filter.setCurrentIndex(0)
            await wait_until(lambda: _names(tab) == everything, 15, "all again")

            _click_header(qtbot, tab, 0)  # Project: A to Z, then Z to A
            await wait_until(lambda: _names(tab) == sorted(everything), 15, "A to Z")
            _click_header(qtbot, tab, 0)
            await wait_until(lambda: _names(tab) == sorted(everything, reverse=True), 15,
                             "Z to A")
            _click_header(qtbot, tab, 1)  # Status
            await wait_until(lambda: [p.status for p in tab.controller.projects.rows]
                             in (["failed"] * 2 + ["queued"] * 2,
                                 ["queued"] * 2 + ["failed"] * 2), 15, "grouped by status")
            tab.close()
            await ctx.cancel_tasks()
        finally:
            await db.dispose()

    run(qloop, body())


def test_edit_spec_names_a_bad_field_then_saves_and_rebuilds(settings, db_url: str, qloop,
                                                             qtbot) -> None:
    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        try:
            project = await ctx.projects.create({"name": "Corner Bakery", "spec": {
                "description": "Bread at dawn", "features": ["menu"]}})
            async with db.session() as session:  # as if the worker had built and published it
                await session.execute(text(
                    "UPDATE jobs SET status = 'succeeded', finished_at = now()"))
                await session.execute(text(
                    "UPDATE projects SET status = 'published', stage = 'publish', progress = 1"))
            tab = ProgressTab(ctx)
            qtbot.addWidget(tab)
            tab.show()
            await wait_until(lambda: tab.controller.projects.row_for_key(project.id) >= 0, 15,
                             "the project row")
            tab.select_project(project.id)
            await wait_until(tab.edit_button.isEnabled, 15, "Edit spec… enabled")
            qtbot.mouseClick(tab.edit_button, Qt.MouseButton.LeftButton)
            dialog = tab.edit_dialog
            assert dialog.isVisible()
            fields = {f.path: f for f in dialog.fields}
            description = fields["spec.description"].widget
            assert description.toPlainText() == "Bread at dawn"  # the stored spec, filled in
            assert fields["spec.features"].widget.toPlainText() == "menu"

            description.setPlainText("x" * 5001)  # the schema allows 5,000
            qtbot.mouseClick(dialog.rebuild_button, Qt.MouseButton.LeftButton)
            error = fields["spec.description"].error
            await wait_until(error.isVisible, 15, "the field's error")
            assert "5000" in error.text()
            assert (await ctx.projects.get(project.id)).build == 1  # nothing saved

            description.setPlainText("Cakes all day")
            fields["spec.features"].widget.setPlainText("menu\ncakes")
            fields["spec.persona.name"].widget.setText("Ada")
            qtbot.mouseClick(dialog.rebuild_button, Qt.MouseButton.LeftButton)
            await wait_until(lambda: "build 2 is queued" in dialog.status.text(), 15,
                             "the rebuild")
            save_screenshot(dialog, SHOTS / "alerts-edit-spec.png")
            assert not error.isVisible()
            rebuilt = await ctx.projects.get(project.id, details=True)
            assert rebuilt.build == 2 and rebuilt.status == "queued"
            assert rebuilt.spec["description"] == "Cakes all day"
            assert rebuilt.spec["features"] == ["menu", "cakes"]
            assert rebuilt.spec["persona"]["name"] == "Ada"
            # A new pipeline run: the first scaffold job stays, a new one is queued.
            assert [(j.kind, j.status) for j in sorted(rebuilt.jobs, key=lambda j: j.id)] == [
                ("scaffold", "succeeded"), ("scaffold", "queued")]
            await wait_until(lambda: not tab.edit_button.isEnabled(), 15,
                             "Edit spec… off while it builds")
            dialog.close()
            tab.close()
            await ctx.cancel_tasks()
        finally:
            await db.dispose()

    run(qloop, body())
