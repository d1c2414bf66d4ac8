"""The AI call ledger in the desktop: the Progress tab's per-project AI panel (calls, tokens
against TITAN_AI_MAX_TOKENS_PER_PROJECT) and the Logs tab's "AI calls" page (every call, live,
paged as you scroll).

The calls are made for real: the planner through Titan's client against the SCRIPTED
OpenAI-compatible server of tests/ai/scripted.py (real HTTP on loopback, answers from a script).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QTimer
from sqlalchemy import text

from tests.ai import test_planner as scripted_plans
from tests.ai.scripted import Answer, ScriptedAI
from tests.desktop.conftest import run, wait_until
from titan_desktop.aicalls.model import HEADERS
from titan_desktop.context import AppContext
from titan_desktop.live import LiveEvents
from titan_desktop.logs.view import LogsTab
from titan_desktop.progress.view import ProgressTab
from worker.ai import AIInvalidAnswer
from worker.config import Settings, reload_settings
from worker.db.engine import Database
from worker.services.planning import create_planned, propose_plan
from worker.services.projects import parse_create

BUDGET = 5000


def plan_text(template: str = "persona/basic") -> str:
    spec = {"description": "Fresh bread daily.", "features": ["Menu"]}
    return json.dumps({"template": template, "spec": spec, "features": scripted_plans.FEATURES})


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
        monkeypatch.setenv("TITAN_AI_MAX_TOKENS_PER_PROJECT", str(BUDGET))
        yield reload_settings(), server


def column(model: Any, name: str) -> list[str]:
    c = HEADERS.index(name)
    return [model.index(r, c).data() for r in range(model.rowCount())]


async def plan_and_create(ctx: AppContext, name: str) -> Any:
    plan = await propose_plan(ctx.settings, ctx.db, ctx.projects.templates, name,
                              "a bakery site with a menu")
    return await create_planned(ctx.projects, parse_create({"name": name}), plan)


def test_the_ai_panel_shows_a_projects_calls_and_its_budget(
        scripted: tuple[Settings, ScriptedAI], db_url: str, qloop: Any, qtbot: Any) -> None:
    settings, server = scripted
    # An unknown template first (the repair fixes it), then a second project's single call.
    server.then(Answer([plan_text("react/spa")], prompt_tokens=300, completion_tokens=120),
                Answer([plan_text()], prompt_tokens=400, completion_tokens=150),
                Answer([plan_text()], prompt_tokens=90, completion_tokens=30))

    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        try:
            bakery = await plan_and_create(ctx, "Sunflower Bakery")
            other = await plan_and_create(ctx, "Other Shop")
            tab = ProgressTab(ctx)
            tab.resize(1200, 800)
            tab.show()
            c = tab.controller
            await wait_until(lambda: c.projects.rowCount() == 2, 15, "the projects")
            tab.select_project(bakery.id)
            tab.details_tabs.setCurrentWidget(tab.ai_panel)
            panel = tab.ai_panel
            await wait_until(lambda: c.ai_calls.rowCount() == 2, 15, "the bakery's calls")
            await wait_until(lambda: "of 5,000 tokens" in panel.usage_label.text(), 15,
                             "the usage")
            # Only this project's calls, newest first, with the server's token counts.
            model = c.ai_calls
            assert column(model, "Purpose") == ["plan (repair)", "plan"]
            assert column(model, "Model") == ["scripted", "scripted"]
            assert column(model, "Tokens in") == ["400", "300"]
            assert column(model, "Tokens out") == ["150", "120"]
            assert all(t.endswith(("ms", " s")) for t in column(model, "Total"))
            assert all(t.endswith(("ms", " s")) for t in column(model, "First token"))
            [fine, failed] = column(model, "Error")
            assert fine == "" and "unknown template 'react/spa'" in failed
            assert tab.ai_panel.table.isColumnHidden(HEADERS.index("Project"))
            used = 300 + 120 + 400 + 150
            assert panel.usage_label.text().startswith(f"2 AI calls, {used:,} of 5,000 tokens")
            assert f"{BUDGET - used:,} left" in panel.usage_label.text()
            assert panel.budget.isVisible() and panel.budget.value() == used
            assert panel.budget.text() == f"{used / BUDGET:.0%} of the budget"
            assert not panel.empty.isVisible()

            tab.select_project(other.id)
            await wait_until(lambda: "1 AI call," in panel.usage_label.text(), 15, "the other")
            await wait_until(lambda: column(c.ai_calls, "Tokens in") == ["90"], 15, "its call")
            close(tab)
            await ctx.cancel_tasks()
        finally:
            await db.dispose()

    run(qloop, body())


def test_a_project_made_from_a_template_has_an_empty_ai_panel(
        settings: Settings, db_url: str, qloop: Any, qtbot: Any) -> None:
    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        try:
            project = await ctx.projects.create({"name": "Plain"})
            tab = ProgressTab(ctx)
            tab.show()
            await wait_until(lambda: tab.controller.projects.rowCount() == 1, 15, "the list")
            tab.select_project(project.id)
            tab.details_tabs.setCurrentWidget(tab.ai_panel)
            await wait_until(lambda: tab.ai_panel.empty.isVisible(), 15, "the empty note")
            label = tab.ai_panel.usage_label.text()
            assert label.startswith("0 AI calls, 0 tokens used; no budget")
            assert "TITAN_AI_MAX_TOKENS_PER_PROJECT" in label
            assert not tab.ai_panel.budget.isVisible()
            close(tab)
            await ctx.cancel_tasks()
        finally:
            await db.dispose()

    run(qloop, body())


def test_the_logs_ledger_shows_every_call_live(
        scripted: tuple[Settings, ScriptedAI], db_url: str, qloop: Any, qtbot: Any) -> None:
    settings, server = scripted
    server.then(Answer([plan_text()], prompt_tokens=400, completion_tokens=150),
                Answer(["{}"], prompt_tokens=50, completion_tokens=5),
                Answer(["{}"], prompt_tokens=60, completion_tokens=6),
                Answer([plan_text()], prompt_tokens=70, completion_tokens=7))

    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        live = LiveEvents(ctx.events, db.url)
        try:
            bakery = await plan_and_create(ctx, "Sunflower Bakery")
            live.start()
            tab = LogsTab(ctx)
            tab.resize(1300, 600)
            tab.show()
            tab.pages.setCurrentWidget(tab.ai_calls)
            model = tab.ai_calls.controller.model
            await wait_until(lambda: model.rowCount() == 1, 15, "the ledger")
            await wait_until(lambda: column(model, "Project") == ["Sunflower Bakery"], 15,
                             "the project's name")
            assert column(model, "Tokens in") == ["400"]
            assert column(model, "Tokens out") == ["150"]
            assert "1 call, 550 tokens" in tab.ai_calls.counter.text()
            # A call made now shows up without any click, and its failure reads in one line.
            with pytest.raises(AIInvalidAnswer, match="even after a repair"):
                await propose_plan(ctx.settings, db, ctx.projects.templates, "Another",
                                   "a shop")
            await wait_until(lambda: model.rowCount() == 3, 20, "the new calls")
            assert column(model, "Purpose") == ["plan (repair)", "plan", "plan"]
            assert column(model, "Project") == ["", "", "Sunflower Bakery"]
            assert all("invalid answer" in e for e in column(model, "Error")[:2])
            # A plan shows up unfiled while the person reviews it, then under its project
            # once it is built.
            plan = await propose_plan(ctx.settings, db, ctx.projects.templates, "Third Shop",
                                      "a shop")
            await wait_until(lambda: model.rowCount() == 4, 20, "the plan's call")
            assert column(model, "Project")[0] == ""
            await create_planned(ctx.projects, parse_create({"name": "Third Shop"}), plan)
            await wait_until(lambda: column(model, "Project")[0] == "Third Shop", 20,
                             "the call filed under its project")
            # The project filter narrows it to one project's calls.
            await wait_until(lambda: tab.ai_calls.project.findData(bakery.id) >= 0, 15,
                             "the project filter")
            tab.ai_calls.project.setCurrentIndex(tab.ai_calls.project.findData(bakery.id))
            await wait_until(lambda: model.rowCount() == 1, 15, "the filtered ledger")
            close(tab)
            await ctx.cancel_tasks()
        finally:
            await live.stop()
            await db.dispose()

    run(qloop, body())


def test_the_ledger_pages_as_you_scroll(settings: Settings, db_url: str, qloop: Any,
                                        qtbot: Any) -> None:
    """Twenty thousand calls: the view holds one page at first and reads more as it scrolls."""
    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        try:
            async with db.session() as session:
                await session.execute(text("""
                    INSERT INTO ai_calls (purpose, model, endpoint, prompt_tokens,
                                          completion_tokens, total_ms)
                    SELECT 'chat', 'm', 'http://127.0.0.1:1/v1', n, 1, 10
                    FROM generate_series(1, 20000) AS n"""))
            tab = LogsTab(ctx)
            tab.resize(1200, 500)
            tab.show()
            tab.pages.setCurrentWidget(tab.ai_calls)
            model = tab.ai_calls.controller.model
            await wait_until(lambda: model.rowCount() > 0 and not model.loading, 15, "a page")
            assert model.rowCount() == model.page_size < 20000
            assert column(model, "Tokens in")[:2] == ["20,000", "19,999"]
            assert "(scroll for more)" in tab.ai_calls.counter.text()
            first = model.rowCount()
            tab.ai_calls.table.scrollToBottom()
            await wait_until(lambda: model.rowCount() > first, 15, "the next page")
            assert column(model, "Tokens in")[first] == f"{20000 - first:,}"
            close(tab)
            await ctx.cancel_tasks()
        finally:
            await db.dispose()

    run(qloop, body())
