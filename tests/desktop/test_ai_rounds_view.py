"""The repair loop's rounds in the desktop (issue 18): the Output tab's "AI rounds" page (each
round's check, verdict, tokens and refused edits; the selected round's files, its diff coloured
+/- and the check's output) and the Progress tab's "round 2/3: 1 test failing".

Rounds are stored through the real service (``worker.services.ai_rounds.record``, as the repair
loop stores them) in a real PostgreSQL, and reach the desktop through the real LISTEN/NOTIFY
path; the last test has the real repair loop write them, with the SCRIPTED model server of
tests/ai/scripted.py and the check in the sandbox. Set TITAN_SHOTS_DIR to also save what the
tabs look like (under Xvfb: QT_QPA_PLATFORM=xcb TITAN_NO_WEBENGINE=1).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget
from sqlalchemy import text

from tests.ai.scripted import Answer, ScriptedAI
from tests.desktop.conftest import run, wait_until
from tests.desktop.test_ai_panel import close
from titan_desktop import palette
from titan_desktop.context import AppContext
from titan_desktop.live import LiveEvents
from titan_desktop.output.view import ProjectOutputPanel
from titan_desktop.progress.models import STATUS_COLUMN
from titan_desktop.progress.view import ProgressTab
from titan_desktop.rounds.model import HEADERS
from titan_desktop.rounds.view import EMPTY_TEXT, NOT_YET_TEXT
from worker import sandbox
from worker.ai import AIClient, Endpoint
from worker.ai.edits import unified_diff
from worker.ai.repair import PASSED, RepairTask, run_repair
from worker.config import Settings
from worker.db.engine import Database
from worker.services import ai_rounds
from worker.services.ai_rounds import RoundRecord

CLI_V1 = "import sys\n\n\ndef count(text):\n    return len(text.split())\n"
CLI_V2 = ("import sys\n\n\ndef count(text: str) -> int:\n"
          "    \"\"\"Words, however they are spaced.\"\"\"\n    return len(text.split())\n\n\n"
          "def main() -> None:\n    print(count(sys.stdin.read()))\n")
TEST = ("from wordcount.cli import count\n\n\ndef test_count():\n"
        "    assert count('a  b\\n c') == 3\n\n\ndef test_empty():\n    assert count('') == 0\n")
RULE = "=" * 30
FAILING_OUTPUT = (f"{RULE} test session starts {RULE}\n"
                  "collected 2 items\n\ntests/test_cli.py .F\n\n"
                  "FAILED tests/test_cli.py::test_empty - AssertionError: assert 1 == 0\n"
                  f"{RULE} 1 failed, 1 passed in 0.05s {RULE}\n")
PASSING_OUTPUT = ("collected 2 items\n\ntests/test_cli.py ..\n\n"
                  f"{RULE} 2 passed in 0.03s {RULE}\n")


def first_round(project_id: int, loop_id: str = "loop-a") -> RoundRecord:
    return RoundRecord(
        loop_id=loop_id, purpose="code", round=1, max_rounds=3,
        diff=unified_diff({"wordcount/cli.py": (None, CLI_V1), "tests/test_cli.py": (None, TEST)}),
        check_summary="1 test failing", passed=False, tokens=1840, check_exit_code=1,
        check_output=FAILING_OUTPUT,
        refusals=[{"path": "../outside.py", "reason": "the path leaves the workspace ('..')"}],
        project_id=project_id)


def second_round(project_id: int, loop_id: str = "loop-a") -> RoundRecord:
    return RoundRecord(
        loop_id=loop_id, purpose="code", round=2, max_rounds=3,
        diff=unified_diff({"wordcount/cli.py": (CLI_V1, CLI_V2)}),
        check_summary="2 tests passed", passed=True, tokens=1210, check_exit_code=0,
        check_output=PASSING_OUTPUT, project_id=project_id)


def shot(widget: QWidget, name: str) -> None:
    where = os.environ.get("TITAN_SHOTS_DIR")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        assert widget.grab().save(str(Path(where) / f"roundsui-{name}.png"))


def line_color(edit: Any, starts_with: str) -> QColor:
    """The foreground the highlighter gave the first line of ``edit`` that starts so."""
    block = edit.document().firstBlock()
    while block.isValid():
        if block.text().startswith(starts_with):
            ranges = block.layout().formats()
            assert ranges, f"{block.text()!r} is not coloured"
            return ranges[0].format.foreground().color()
        block = block.next()
    raise AssertionError(f"no line starts with {starts_with!r}")


def cells(model: Any, name: str) -> list[str]:
    c = HEADERS.index(name)
    return [model.index(r, c).data() for r in range(model.rowCount())]


async def set_status(db: Database, project_id: int, status: str) -> None:
    async with db.session() as session:
        await session.execute(text(
            "UPDATE projects SET status = :s, stage = coalesce(:stage, stage), progress = :p, "
            "started_at = now() WHERE id = :id"),
            {"s": status, "id": project_id, "stage": status if status == "build" else None,
             "p": 0.35 if status == "build" else 1.0})


def test_the_output_tab_shows_each_round_live_with_its_coloured_diff(
        settings: Settings, db_url: str, qloop: Any, qtbot: Any) -> None:
    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        live = LiveEvents(ctx.events, db.url)
        try:
            project = await ctx.projects.create({"name": "Word Counter"})
            await ai_rounds.record(db, first_round(project.id))
            live.start()
            await wait_until(lambda: live.is_online, 15, "the listener")
            panel = ProjectOutputPanel(ctx)
            panel.resize(1400, 860)
            panel.show()
            await wait_until(lambda: panel.controller.projects.rowCount() == 1, 15, "the list")
            panel.select_project(project.id)
            panel.sections.setCurrentWidget(panel.rounds)
            rounds = panel.rounds
            model = rounds.controller.model
            await wait_until(lambda: model.rowCount() == 1, 15, "the first round")
            assert panel.sections.tabText(1) == "AI rounds (1)"
            assert cells(model, "Round") == ["1/3"]
            assert cells(model, "Check") == ["1 test failing"]
            assert cells(model, "Result") == ["✘ failed"]
            assert cells(model, "Tokens") == ["1,840"]
            assert cells(model, "Refused edits") == [
                "../outside.py: the path leaves the workspace ('..')"]
            assert rounds.selected_round() is not None
            assert rounds.refused.isVisible()
            assert "../outside.py</code> — the path leaves the workspace" in rounds.refused.text()

            # A second round recorded now appears without any refresh, and is shown.
            await ai_rounds.record(db, second_round(project.id))
            await wait_until(lambda: model.rowCount() == 2, 15, "the second round, live")
            assert panel.sections.tabText(1) == "AI rounds (2)"
            assert cells(model, "Round") == ["1/3", "2/3"]
            assert cells(model, "Result") == ["✘ failed", "✔ passed"]
            assert rounds.summary.text() == ("2 AI rounds · 3,050 tokens · the last round passed "
                                             "(2 tests passed)")
            current = rounds.selected_round()
            assert current is not None and current.round == 2
            assert "-def count(text):" in rounds.diff.toPlainText()
            assert line_color(rounds.diff, "+def count(text: str)") == QColor(palette.SUCCESS)
            assert line_color(rounds.diff, "-def count(text):") == QColor(palette.DANGER)
            assert line_color(rounds.diff, "@@") == QColor(palette.ACCENT)
            washed = [s.cursor.block().text()[:1] for s in rounds.diff.extraSelections()]
            assert washed == ["-", "+", "+", "+", "+", "+", "+"]  # whole lines, + and - only
            assert rounds.output.toPlainText() == PASSING_OUTPUT
            files = [rounds.files_model.item(r).text()
                     for r in range(rounds.files_model.rowCount())]
            assert files == ["wordcount/cli.py"]
            assert not rounds.refused.isVisible()
            shot(panel, "output-two-rounds")

            # The first round: two new files, its failing output.
            rounds.table.selectRow(0)
            files = [rounds.files_model.item(r).text()
                     for r in range(rounds.files_model.rowCount())]
            assert files == ["tests/test_cli.py (new)", "wordcount/cli.py (new)"]
            assert "1 failed, 1 passed" in rounds.output.toPlainText()
            assert rounds.refused.isVisible()
            assert "14 lines added, 0 removed" in rounds.detail.text()
            assert line_color(rounds.diff, "+def test_empty") == QColor(palette.SUCCESS)
            # Clicking a file brings its part of the diff into view.
            rounds.files.clicked.emit(rounds.files_model.index(1, 0))
            cursor = rounds.diff.textCursor()
            assert cursor.block().text() == "--- /dev/null"
            assert cursor.block().next().text() == "+++ b/wordcount/cli.py"
            assert rounds.diff.viewport().rect().contains(rounds.diff.cursorRect())
            shot(panel, "output-first-round")

            # A person reading an older round keeps it when a new round arrives.
            await ai_rounds.record(db, first_round(project.id, loop_id="loop-b"))
            await wait_until(lambda: model.rowCount() == 3, 15, "the third round")
            current = rounds.selected_round()
            assert current is not None and current.loop_id == "loop-a" and current.round == 1
            assert "in 2 runs of the repair loop" in rounds.summary.text()
            close(panel)
            await ctx.cancel_tasks()
        finally:
            await live.stop()
            await db.dispose()

    run(qloop, body())


def test_a_project_without_ai_rounds_says_so(settings: Settings, db_url: str, qloop: Any,
                                             qtbot: Any) -> None:
    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        try:
            plain = await ctx.projects.create({"name": "Plain Site"})
            other = await ctx.projects.create({"name": "Coded"})
            await ai_rounds.record(db, first_round(other.id))
            panel = ProjectOutputPanel(ctx)
            panel.resize(1200, 700)
            panel.show()
            await wait_until(lambda: panel.controller.projects.rowCount() == 2, 15, "the list")
            panel.sections.setCurrentWidget(panel.rounds)
            rounds = panel.rounds
            panel.select_project(other.id)
            await wait_until(lambda: rounds.controller.model.rowCount() == 1, 15, "its round")
            assert rounds.body.isVisible()
            # Not built yet: rounds may still come.
            panel.select_project(plain.id)
            await wait_until(lambda: rounds.summary.text() == NOT_YET_TEXT, 15, "not yet")
            assert not rounds.body.isVisible()
            # Built without a model.
            await set_status(db, plain.id, "published")
            ctx.events.tablesChanged.emit({"projects"})  # as the listener says it
            await wait_until(lambda: rounds.summary.text() == EMPTY_TEXT, 15, "the empty state")
            assert rounds.controller.model.rowCount() == 0
            assert not rounds.body.isVisible()
            assert panel.sections.tabText(1) == "AI rounds"
            shot(panel, "output-empty")
            close(panel)
            await ctx.cancel_tasks()
        finally:
            await db.dispose()

    run(qloop, body())


def test_the_progress_row_shows_the_latest_round_while_it_runs(
        settings: Settings, db_url: str, qloop: Any, qtbot: Any) -> None:
    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        live = LiveEvents(ctx.events, db.url)
        try:
            coded = await ctx.projects.create({"name": "Word Counter"})
            plain = await ctx.projects.create({"name": "Plain Site"})
            await set_status(db, coded.id, "build")
            await set_status(db, plain.id, "build")
            await ai_rounds.record(db, first_round(coded.id))
            live.start()
            await wait_until(lambda: live.is_online, 15, "the listener")
            tab = ProgressTab(ctx)
            tab.resize(1400, 700)
            tab.show()
            model = tab.controller.projects

            def status(project_id: int) -> str:
                return model.index(model.row_for_key(project_id), STATUS_COLUMN).data()

            await wait_until(lambda: model.rowCount() == 2, 15, "the projects")
            await wait_until(lambda: "round" in status(coded.id), 15, "the round line")
            assert status(coded.id) == "build\nround 1/3: 1 test failing, 1 edit refused"
            assert status(plain.id) == "build"  # no AI rounds: the status alone
            # A new round replaces the line without any click.
            await ai_rounds.record(db, RoundRecord(
                loop_id="loop-a", purpose="code", round=2, max_rounds=3, diff="",
                check_summary="1 test failing", passed=False, tokens=900, project_id=coded.id))
            await wait_until(lambda: status(coded.id) == "build\nround 2/3: 1 test failing",
                             15, "the second round's line")
            shot(tab, "progress-list")
            tooltip = model.index(model.row_for_key(coded.id), STATUS_COLUMN).data(
                3)  # Qt.ToolTipRole
            assert tooltip == "Latest AI round (failed): round 2/3: 1 test failing"
            tab.select_project(coded.id)
            await wait_until(lambda: "AI round 2/3: 1 test failing" in tab.summary.text(), 15,
                             "the summary")
            shot(tab, "progress-round")
            # Once the project has finished, the row shows its status alone again.
            await set_status(db, coded.id, "published")
            await wait_until(lambda: status(coded.id) == "published", 15, "the plain status")
            close(tab)
            await ctx.cancel_tasks()
        finally:
            await live.stop()
            await db.dispose()

    run(qloop, body())


def test_the_repair_loops_own_rounds_show_as_they_run(
        settings: Settings, db_url: str, qloop: Any, qtbot: Any, tmp_path: Path) -> None:
    """The real loop (worker.ai.repair) writes the rounds, with the SCRIPTED OpenAI-compatible
    server of tests/ai/scripted.py as its model and the check run by pytest in the sandbox; it
    runs on its own event loop in a thread, as a worker would beside the desktop."""
    if sandbox.bwrap_problem() is not None:
        pytest.skip(f"no sandbox here: {sandbox.bwrap_problem()}")
    space = tmp_path / "workspace"
    space.mkdir()
    (space / "test_calc.py").write_text(
        "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n")

    def edits(*items: dict[str, str]) -> Answer:
        return Answer([json.dumps({"edits": list(items)})], prompt_tokens=100)

    def repair(url: str, project_id: int) -> str:
        async def go() -> str:
            db = Database(db_url)
            try:
                async with AIClient(Endpoint(url, "scripted"), db=db,
                                    retry_base_seconds=0.01) as ai:
                    result = await run_repair(ai, settings, RepairTask(
                        space, "Write calc.add(a, b).",
                        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                        files=["test_calc.py"], project_id=project_id, check_timeout_seconds=120,
                        env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}))
                    return result.status
            finally:
                await db.dispose()
        return asyncio.run(go())

    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        live = LiveEvents(ctx.events, db.url)
        try:
            project = await ctx.projects.create({"name": "Calc"})
            await set_status(db, project.id, "build")
            live.start()
            await wait_until(lambda: live.is_online, 15, "the listener")
            panel = ProjectOutputPanel(ctx)
            progress = ProgressTab(ctx)
            panel.show()
            progress.show()
            await wait_until(lambda: panel.controller.projects.rowCount() == 1, 15, "the list")
            panel.select_project(project.id)
            rounds = panel.rounds
            model = rounds.controller.model
            with ScriptedAI() as server:
                server.then(edits({"path": "calc.py", "content": "def add(a, b):\n"
                                                                 "    return a - b\n"},
                                  {"path": "../escape.py", "content": "x = 1\n"}),
                            edits({"path": "calc.py", "search": "a - b", "replace": "a + b"}))
                status = await asyncio.get_running_loop().run_in_executor(
                    None, repair, server.url, project.id)
            assert status == PASSED
            await wait_until(lambda: model.rowCount() == 2, 20, "both rounds")
            assert cells(model, "Round") == ["1/3", "2/3"]
            assert cells(model, "Check") == ["1 test failing", "1 test passed"]
            assert cells(model, "Result") == ["✘ failed", "✔ passed"]
            [refused, none] = cells(model, "Refused edits")
            assert refused.startswith("../escape.py: ") and none == ""
            assert line_color(rounds.diff, "+    return a + b") == QColor(palette.SUCCESS)
            assert line_color(rounds.diff, "-    return a - b") == QColor(palette.DANGER)
            rounds.table.selectRow(0)
            assert rounds.files_model.item(0).text() == "calc.py (new)"
            assert "assert -1 == 3" in rounds.output.toPlainText()  # pytest's, from the sandbox
            projects = progress.controller.projects
            await wait_until(
                lambda: projects.index(0, STATUS_COLUMN).data()
                == "build\nround 2/3: 1 test passed", 15, "the Progress row")
            close(panel)
            close(progress)
            await ctx.cancel_tasks()
        finally:
            await live.stop()
            await db.dispose()

    run(qloop, body())
