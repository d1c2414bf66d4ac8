"""The Input tab's "Describe it" box, used as a person would: describe, watch the answer stream in,
review and edit the plan, build it (or see why nothing was built).

The endpoint is the SCRIPTED OpenAI-compatible server of tests/ai/scripted.py (real HTTP on
loopback, answers from a script written here), because these cases need particular answers: a
valid plan, one that stays invalid after the repair, a stall to cancel.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QModelIndex, Qt, QTimer
from PySide6.QtWidgets import QComboBox, QLineEdit

from tests.ai import test_planner as scripted_plans
from tests.ai.scripted import Answer, ScriptedAI, Stall
from tests.desktop.conftest import run, wait_until
from titan_desktop.context import AppContext
from titan_desktop.input.view import InputTab
from titan_desktop.plan.models import STEP_COLUMN
from titan_desktop.plan.view import DescribePanel
from worker.config import Settings, reload_settings
from worker.db.engine import Database
from worker.services import ai_calls

DESCRIPTION = "A website for my bakery with a menu page and how to order a cake."
SPEC = {"description": "Fresh bread daily.", "features": ["Menu", "Cake orders"]}


def answer_text(spec: Any = None) -> str:
    return json.dumps({"template": "persona/basic", "spec": SPEC if spec is None else spec,
                       "features": scripted_plans.FEATURES})


def slow_answer(text: str) -> Answer:
    """The plan in 40-character pieces, a pause between them (time to see it arrive)."""
    return Answer([text[i:i + 40] for i in range(0, len(text), 40)], delay=0.15)


def close(widget: Any) -> None:
    """Close and delete a tab now, on the GUI thread, as the main window's shutdown does: left to
    the garbage collector, its Qt objects could be destroyed on whichever thread collects them."""
    widget.close()
    for timer in widget.findChildren(QTimer):
        timer.stop()
    shiboken6.delete(widget)


@pytest.fixture
def scripted(settings: Settings, monkeypatch: pytest.MonkeyPatch
             ) -> Iterator[tuple[Settings, ScriptedAI]]:
    with ScriptedAI() as server:
        monkeypatch.setenv("TITAN_AI_URL", server.url)
        monkeypatch.setenv("TITAN_AI_MODEL", "scripted")
        yield reload_settings(), server


def open_panel(qtbot: Any, ctx: AppContext) -> DescribePanel:
    panel = DescribePanel(ctx)
    panel.resize(720, 1000)
    panel.show()
    return panel


def describe(panel: DescribePanel, name: str = "Sunflower Bakery") -> None:
    panel.name.setText(name)
    panel.description.setPlainText(DESCRIPTION)
    panel.plan_button.click()


def titles(panel: DescribePanel, parent: QModelIndex = QModelIndex()) -> list[Any]:  # noqa: B008
    """The review tree as the person sees it: [title, [children...]] per row."""
    model = panel.tree_model
    rows = []
    for row in range(model.rowCount(parent)):
        index = model.index(row, 0, parent)
        children = titles(panel, index)
        rows.append([index.data(), children] if children else index.data())
    return rows


def stored_tree(items: list[Any]) -> list[Any]:
    by_parent: dict[int | None, list[Any]] = {}
    for item in sorted(items, key=lambda i: i.position):
        by_parent.setdefault(item.parent_id, []).append(item)

    def walk(parent: int | None) -> list[Any]:
        return [[i.title, i.step, walk(i.id)] if by_parent.get(i.id) else [i.title, i.step]
                for i in by_parent.get(parent, [])]

    return walk(None)


def open_editor(panel: DescribePanel, kind: type[Any]) -> Any:
    editors = [e for e in panel.tree.viewport().findChildren(kind) if e.isVisible()]
    assert len(editors) == 1, f"expected one open {kind.__name__}, found {len(editors)}"
    return editors[0]


async def rename(panel: DescribePanel, qtbot: Any, index: QModelIndex, text: str, *,
                 already_open: bool = False) -> None:
    """Edit a title in place as a person does: open the editor, type, press Enter."""
    if not already_open:
        panel.tree.setCurrentIndex(index)
        panel.tree.edit(index)
    editor = open_editor(panel, QLineEdit)
    editor.selectAll()
    qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    await wait_until(lambda: index.data() == text, 5, "the new title")


def test_describe_streams_the_answer_then_the_edited_plan_is_built(
        scripted: tuple[Settings, ScriptedAI], db_url: str, qloop: Any, qtbot: Any) -> None:
    settings, server = scripted
    full = answer_text()
    server.then(slow_answer(full))

    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        try:
            panel = open_panel(qtbot, ctx)
            assert panel.plan_button.isEnabled()
            assert "scripted" in panel.ai_note.text() and server.url in panel.ai_note.text()
            describe(panel)
            # The answer shows while it is still arriving.
            await wait_until(lambda: panel.stream.toPlainText(), 20, "the first streamed text")
            partial = panel.stream.toPlainText()
            assert panel.controller.state == "planning" and panel.stream_box.isVisible()
            assert full.startswith(partial) and len(partial) < len(full)
            assert panel.cancel_button.isVisible() and not panel.plan_button.isEnabled()

            await wait_until(lambda: panel.controller.state == "review", 30, "the review")
            assert panel.review.isVisible() and not panel.stream_box.isVisible()
            assert panel.template.currentData() == "persona/basic"
            shown_spec = {f.path: f.read() for f in panel.spec_fields}
            assert shown_spec["spec.description"] == "Fresh bread daily."
            assert shown_spec["spec.features"] == ["Menu", "Cake orders"]
            assert titles(panel) == [
                ["Menu", [["Write the menu page", ["Draft the menu page",
                                                   "Check the menu links"]],
                          ["Put the menu online", ["Serve the menu", "See the menu answer"]]]],
                ["Cake orders", [["Release", ["Publish the site"]]]]]

            model = panel.tree_model
            await rename(panel, qtbot, model.find("Draft the menu page"),
                         "Write the menu with prices")
            # An empty title is refused: the old one stays.
            assert not model.setData(model.find("Serve the menu"), "   ")
            assert model.find("Serve the menu").isValid()
            # A milestone left without goals is named, and nothing is built.
            panel.tree.setCurrentIndex(model.find("Publish the site"))
            panel.remove_button.click()
            panel.build_button.click()
            plan_error = panel.errors["plan"]
            assert plan_error.isVisible() and "“Release” needs at least one goal" in \
                plan_error.text()
            assert await ctx.projects.list() == []
            # Add the goal back under Release, with its step.
            panel.tree.setCurrentIndex(model.find("Release"))
            panel.add_buttons["goal"].click()
            new = model.find("New goal")
            assert new.isValid() and new.parent().data() == "Release"
            # Its title is open for typing at once.
            await rename(panel, qtbot, new, "Publish the bakery site", already_open=True)
            step = model.index(new.row(), STEP_COLUMN, new.parent())
            assert step.data() == "scaffold"
            panel.tree.edit(step)
            combo = open_editor(panel, QComboBox)
            combo.setCurrentText("publish")
            qtbot.keyClick(combo, Qt.Key.Key_Return)
            await wait_until(lambda: step.data() == "publish", 5, "the step")

            panel.build_button.click()
            await wait_until(lambda: panel.controller.state == "idle", 15, "the build")
            assert "Created Sunflower Bakery" in panel.status.text()
            assert not panel.review.isVisible() and panel.name.text() == ""

            [project] = await ctx.projects.list()
            assert project.name == "Sunflower Bakery" and project.template_ref == "persona/basic"
            assert project.spec["features"] == ["Menu", "Cake orders"]
            assert stored_tree(await ctx.projects.plan(project.id)) == [
                ["Menu", None, [
                    ["Write the menu page", None, [["Write the menu with prices", "scaffold"],
                                                   ["Check the menu links", "build"]]],
                    ["Put the menu online", None, [["Serve the menu", "deploy"],
                                                   ["See the menu answer", "verify"]]]]],
                ["Cake orders", None, [["Release", None, [["Publish the bakery site",
                                                           "publish"]]]]]]
            # The call that planned it is filed under it, with the server's token counts.
            [call] = await ai_calls.list_calls(db)
            assert call.project_id == project.id and call.purpose == "plan"
            assert call.error is None and call.prompt_tokens == 11
            assert call.completion_tokens == len(slow_answer(full).pieces)
            close(panel)
            await ctx.cancel_tasks()
        finally:
            await db.dispose()

    run(qloop, body())


def test_an_answer_invalid_twice_shows_one_line_and_creates_nothing(
        scripted: tuple[Settings, ScriptedAI], db_url: str, qloop: Any, qtbot: Any) -> None:
    settings, server = scripted
    bad = answer_text(spec={"features": ["   "], "colour": "red"})
    server.then(Answer([bad]), Answer([bad]))

    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        try:
            panel = open_panel(qtbot, ctx)
            describe(panel)
            error = panel.errors["form"]
            await wait_until(lambda: error.isVisible(), 20, "the error")
            assert panel.controller.state == "idle" and not panel.review.isVisible()
            assert "\n" not in error.text()
            assert "repair" in error.text() and "spec" in error.text()
            assert panel.status.text() == "Nothing was created."
            assert panel.plan_button.isEnabled()  # the person may try again
            assert await ctx.projects.list() == []
            calls = await ai_calls.list_calls(db)
            assert [c.purpose for c in calls] == ["plan (repair)", "plan"]
            assert all(c.project_id is None and "invalid answer" in (c.error or "")
                       for c in calls)
            close(panel)
            await ctx.cancel_tasks()
        finally:
            await db.dispose()

    run(qloop, body())


def test_cancel_while_planning_stops_the_call(
        scripted: tuple[Settings, ScriptedAI], db_url: str, qloop: Any, qtbot: Any) -> None:
    settings, server = scripted
    server.then(Stall())

    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        try:
            panel = open_panel(qtbot, ctx)
            describe(panel)
            await wait_until(lambda: server.requests, 15, "the request to reach the server")
            assert panel.cancel_button.isVisible()
            panel.cancel_button.click()
            await wait_until(lambda: panel.controller.state == "idle", 15, "the cancel")
            assert "cancelled" in panel.status.text().lower()
            assert panel.plan_button.isEnabled() and not panel.cancel_button.isVisible()
            await wait_until(lambda: _ledger_errors(db), 10, "the ledger row")
            assert await _ledger_errors(db) == ["cancelled"]
            assert await ctx.projects.list() == []
            close(panel)
            await ctx.cancel_tasks()
        finally:
            await db.dispose()

    run(qloop, body())


async def _ledger_errors(db: Database) -> list[str | None]:
    return [c.error for c in await ai_calls.list_calls(db)]


def test_an_unreachable_endpoint_is_one_line_and_creates_nothing(
        settings: Settings, monkeypatch: pytest.MonkeyPatch, db_url: str, qloop: Any,
        qtbot: Any) -> None:
    with ScriptedAI() as gone:
        url = gone.url  # a port that was just closed
    monkeypatch.setenv("TITAN_AI_URL", url)
    monkeypatch.setenv("TITAN_AI_MODEL", "scripted")
    monkeypatch.setenv("TITAN_AI_MAX_RETRIES", "0")
    settings = reload_settings()

    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        try:
            panel = open_panel(qtbot, ctx)
            describe(panel)
            error = panel.errors["form"]
            await wait_until(lambda: error.isVisible(), 30, "the error")
            assert "unreachable" in error.text() and "TITAN_AI_URL" in error.text()
            assert "\n" not in error.text()
            assert await ctx.projects.list() == []
            close(panel)
            await ctx.cancel_tasks()
        finally:
            await db.dispose()

    run(qloop, body())


def test_with_ai_off_the_box_says_how_to_turn_it_on(
        settings: Settings, monkeypatch: pytest.MonkeyPatch, db_url: str, qloop: Any,
        qtbot: Any) -> None:
    monkeypatch.setenv("TITAN_AI_LOCAL", "0")
    settings = reload_settings()

    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        try:
            tab = InputTab(ctx)
            tab.show()
            # The form (which needs no AI) is the page shown; Describe it says why it is idle.
            assert tab.ways.currentWidget() is tab.form
            tab.ways.setCurrentWidget(tab.describe)
            panel = tab.describe
            panel.name.setText("Sunflower Bakery")
            panel.description.setPlainText(DESCRIPTION)
            assert not panel.plan_button.isEnabled()
            note = panel.ai_note.text()
            assert "AI is off" in note and "TITAN_AI_URL" in note and "ai-local" in note
            assert panel.plan_button.toolTip().startswith("AI is off")
            close(tab)
            await ctx.cancel_tasks()
        finally:
            await db.dispose()

    run(qloop, body())


def test_the_local_model_is_said_to_write_rough_drafts(
        settings: Settings, db_url: str, qloop: Any, qtbot: Any) -> None:
    from worker.ai.local import local_unavailable_reason

    reason = local_unavailable_reason()
    if reason is not None:
        pytest.skip(f"the ai-local extra is not installed: {reason}")

    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        try:
            panel = open_panel(qtbot, ctx)
            assert panel.plan_button.isEnabled()
            note = panel.ai_note.text()
            assert "rough drafts" in note and "Ollama" in note
            close(panel)
            await ctx.cancel_tasks()
        finally:
            await db.dispose()

    run(qloop, body())


def test_a_stream_box_keeps_what_arrived_after_an_error(
        scripted: tuple[Settings, ScriptedAI], db_url: str, qloop: Any, qtbot: Any) -> None:
    """What the model said stays readable after a failure (it explains the error)."""
    settings, server = scripted
    server.then(Answer(["not json at all"]), Answer(["still not json"]))

    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        try:
            panel = open_panel(qtbot, ctx)
            describe(panel)
            await wait_until(lambda: panel.errors["form"].isVisible(), 20, "the error")
            shown = panel.stream.toPlainText()
            first, repair = shown.split("asked the model to correct it")
            assert "not json at all" in first and "still not json" in repair
            assert panel.stream_box.isVisible()
            close(panel)
            await ctx.cancel_tasks()
        finally:
            await db.dispose()

    run(qloop, body())


def test_a_url_without_a_model_is_named_and_plans_nothing(
        settings: Settings, monkeypatch: pytest.MonkeyPatch, db_url: str, qloop: Any) -> None:
    monkeypatch.setenv("TITAN_AI_URL", "http://127.0.0.1:11434/v1")
    settings = reload_settings()

    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        try:
            panel = DescribePanel(ctx)
            panel.show()
            assert not panel.plan_button.isEnabled()
            note = panel.ai_note.text()
            assert "misconfigured" in note and "TITAN_AI_MODEL" in note
            close(panel)
            await ctx.cancel_tasks()
        finally:
            await db.dispose()

    run(qloop, body())
