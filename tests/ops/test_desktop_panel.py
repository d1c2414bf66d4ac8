"""The desktop's Ops panel (Output tab): lists changes, approves and rejects through the UI."""

from __future__ import annotations

import asyncio
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("qasync")

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from sqlalchemy import text

# The desktop suite's loop fixture: it collects the test's Qt objects on the GUI thread before
# closing the loop (a copy here without that crashed the next test's event processing once).
from tests.desktop.conftest import qloop, run, wait_until  # noqa: F401
from worker.config import reload_settings
from worker.db.engine import Database
from worker.services.ops import OpsService

pytestmark = pytest.mark.gui


def test_panel_lists_changes_and_decides(
        titan_env: dict, db_url: str,
        qloop: asyncio.AbstractEventLoop,  # noqa: F811 (the imported fixture)
        qtbot: QtBot,
) -> None:
    from titan_desktop.context import AppContext
    from titan_desktop.ops.view import OpsPanel

    async def scenario() -> None:
        settings = reload_settings()
        db = Database(db_url)
        service = OpsService(db, settings)
        ids = []
        for title in ("Update README", "Tweak docs"):
            change = await service.propose({"title": title, "patches": [
                {"path": "README.md", "content": title}]})
            ids.append(change.id)
        async with db.session() as session:  # as if the loop had reached the approval gate
            await session.execute(text("UPDATE ops_changes SET status = 'awaiting_approval', "
                                        "diff = '+' || title"))
        ctx = AppContext(settings, db)
        panel = OpsPanel(ctx)
        panel.show()
        try:
            model = panel.controller.changes
            await wait_until(lambda: model.rowCount() == 2, what="the changes listed")
            assert not panel.approve_button.isEnabled()  # nothing selected yet

            for change_id, button, comment in ((ids[0], panel.approve_button, "ship it"),
                                               (ids[1], panel.reject_button, "not now")):
                panel.table.selectRow(model.row_for_key(change_id))
                await wait_until(lambda cid=change_id: (panel.controller.selected or {})
                                 .get("id") == cid, what="details loaded")
                assert button.isEnabled()
                assert "awaiting approval" in panel.summary.text()
                panel.comment.setText(comment)
                qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
                await wait_until(lambda: "(#" in panel.status.text(), what="decision message")
                panel.status.setText("")

            approved = await service.details(ids[0])
            rejected = await service.details(ids[1])
            assert approved["status"] == "approved"
            assert approved["approvals"][0]["comment"] == "ship it"
            assert "ops.deploy-canary" in [j["kind"] for j in approved["jobs"]]
            assert rejected["status"] == "rejected" and "not now" in rejected["reason"]
            assert "ops.rollback" in [j["kind"] for j in rejected["jobs"]]
        finally:
            panel.close()
            await ctx.cancel_tasks()
            deleted: list[bool] = []  # Qt deletes the panel while the loop still runs
            panel.destroyed.connect(lambda: deleted.append(True))
            panel.deleteLater()
            await wait_until(lambda: deleted, 10, "the panel deleted")
            await db.dispose()

    run(qloop, scenario())


def test_panel_shows_why_tests_wait_and_runs_them_when_the_person_approves(
        titan_env: dict, db_url: str,
        qloop: asyncio.AbstractEventLoop,  # noqa: F811 (the imported fixture)
) -> None:
    """No sandbox here: the change's tests wait for a person, who lets them run from the UI."""
    from titan_desktop.context import AppContext
    from titan_desktop.ops.view import OpsPanel
    from worker.services.ops import RUN_APPROVAL_MARK

    async def scenario() -> None:
        settings = reload_settings()
        db = Database(db_url)
        service = OpsService(db, settings)
        change = await service.propose({"title": "Touch docs", "patches": [
            {"path": "docs/x.md", "content": "x"}]})
        async with db.session() as session:  # as the ops.test step leaves it with no sandbox
            await session.execute(text("UPDATE ops_changes SET status = 'patched', reason = :r"),
                                  {"r": RUN_APPROVAL_MARK + "no sandbox on this machine"})
        ctx = AppContext(settings, db)
        panel = OpsPanel(ctx)
        panel.show()
        try:
            model = panel.controller.changes
            await wait_until(lambda: model.rowCount() == 1, what="the change listed")
            status_column = 2
            assert model.index(0, status_column).data() == "awaiting run approval"
            panel.table.selectRow(0)
            await wait_until(lambda: panel.controller.selected is not None, what="details")
            assert "no sandbox on this machine" in panel.summary.text()
            assert panel.run_button.isVisible() and not panel.approve_button.isEnabled()
            panel.run_button.click()
            await wait_until(lambda: "without a sandbox" in panel.status.text(),
                             what="run message")
            details = await service.details(change.id)
            assert details["status"] == "patched"
            assert details["reason"].startswith("running its tests without a sandbox")
            assert "approved by" in details["reason"]
            async with db.session() as session:
                payload = (await session.execute(text(
                    "SELECT payload FROM jobs WHERE kind = 'ops.test' AND status = 'queued'"
                ))).scalar_one()
            assert payload["run_approved_by"] and payload["change_id"] == change.id
            await wait_until(lambda: not panel.run_button.isVisible(), what="button hidden")
        finally:
            panel.close()
            await ctx.cancel_tasks()
            panel.deleteLater()
            await asyncio.sleep(0.05)
            await db.dispose()

    run(qloop, scenario())
