"""The Ops panel's "Ask Titan" box: a request in words becomes a change a model drafts; the
panel selects it and shows the request, the model, its status and (once drafted) its diff.

The model is the SCRIPTED server (tests/ai/scripted.py); here it is never called: the box only
stores the request and queues ops.draft (no worker runs), and the drafted state is written as
the pipeline leaves it, as the other panel tests do.
"""

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

from tests.ai.scripted import ScriptedAI
from tests.desktop.conftest import qloop, run, wait_until  # noqa: F401
from worker.config import reload_settings
from worker.db.engine import Database
from worker.services.ops import OpsService

pytestmark = pytest.mark.gui
ASK = "add a --version flag to titan worker"


def test_ask_titan_box_proposes_a_drafted_change_and_shows_it(
        titan_env: dict, db_url: str, monkeypatch: pytest.MonkeyPatch,
        qloop: asyncio.AbstractEventLoop,  # noqa: F811 (the imported fixture)
        qtbot: QtBot,
) -> None:
    from titan_desktop.context import AppContext
    from titan_desktop.ops.view import OpsPanel

    async def scenario(scripted: ScriptedAI) -> None:
        monkeypatch.setenv("TITAN_AI_URL", scripted.url)
        monkeypatch.setenv("TITAN_AI_MODEL", "scripted")
        settings = reload_settings()
        db = Database(db_url)
        service = OpsService(db, settings)
        ctx = AppContext(settings, db)
        panel = OpsPanel(ctx)
        panel.show()
        try:
            qtbot.mouseClick(panel.ask_button, Qt.MouseButton.LeftButton)  # nothing typed
            await wait_until(lambda: "Say what Titan should change" in panel.status.text(),
                             what="the empty request refused")
            assert await service.count() == 0 and panel.ask_button.isEnabled()

            qtbot.keyClicks(panel.ask_input, ASK)
            qtbot.mouseClick(panel.ask_button, Qt.MouseButton.LeftButton)
            await wait_until(lambda: "Asked (#" in panel.status.text(), what="the request")
            assert "scripted drafts the change" in panel.status.text()
            assert panel.ask_input.text() == "" and panel.ask_button.isEnabled()
            [change] = await service.list()
            assert change.ask == ASK and change.status == "proposed"
            assert change.proposed_by.startswith("ai:scripted for user:")
            await wait_until(lambda: (panel.controller.selected or {}).get("id") == change.id,
                             what="the new change selected")
            assert f"Asked: {ASK}" in panel.details.toPlainText()
            assert "Drafted by scripted" in panel.details.toPlainText()
            assert "(the model is drafting the change)" in panel.details.toPlainText()
            assert not panel.approve_button.isEnabled()
            await wait_until(lambda: panel.controller.changes.rowCount() == 1, what="listed")
            assert panel.controller.changes.index(0, 2).data() == "drafting"
            details = await service.details(change.id)
            assert [j["kind"] for j in details["jobs"]] == ["ops.draft"]

            async with db.session() as session:  # as the pipeline leaves it once drafted
                await session.execute(text(
                    "UPDATE ops_changes SET status = 'awaiting_approval', ai_tokens = 1234, "
                    "ai_drafts = 2, patches = :p, diff = :d, test_passed = true, "
                    "test_summary = 'exit code 0: 3 passed', test_command = 'pytest'"),
                    {"p": '[{"path": "worker/cli.py", "content": "x"}]',
                     "d": "+    parser.add_argument('--version')\n"})
            panel.controller.reload_list()
            panel.controller._details.request()
            await wait_until(lambda: "parser.add_argument" in panel.details.toPlainText(),
                             what="the drafted diff shown")
            shown = panel.details.toPlainText()
            assert "1,234 tokens · 2 draft(s)" in shown and "3 passed" in shown
            assert "awaiting approval" in panel.summary.text()
            assert panel.controller.changes.index(0, 2).data() == "awaiting approval"
            assert panel.approve_button.isEnabled()
            assert scripted.requests == []  # the desktop never calls the model itself
        finally:
            panel.close()
            await ctx.cancel_tasks()
            deleted: list[bool] = []
            panel.destroyed.connect(lambda: deleted.append(True))
            panel.deleteLater()
            await wait_until(lambda: deleted, 10, "the panel deleted")
            await db.dispose()

    with ScriptedAI() as scripted:
        run(qloop, scenario(scripted))
