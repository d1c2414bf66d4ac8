"""The Output tab's content approval shows the model-written copy, and a person edits it before
approving: the real window, its real worker and PostgreSQL; the "model" is the SCRIPTED
OpenAI-compatible server on loopback (tests/ai/scripted.py), so the copy is a known text."""

from __future__ import annotations

import asyncio
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.ai.scripted import Answer, ScriptedAI
from tests.desktop.conftest import open_window, run, wait_until
from worker.config import reload_settings
from worker.errors import Conflict

COPY: dict[str, Any] = {
    "tagline": "Tea for people who write code",
    "about": "We brew tea for people who write code.",
    "features": [{"name": "Kettle", "text": "The Kettle boils water in 90 seconds."}],
    "bio": "Ada has brewed tea since 1999.",
}
NEW_TAGLINE = "Tea & <i>biscuits</i> at four"
ESCAPED = "Tea &amp; &lt;i&gt;biscuits&lt;/i&gt; at four"


def answer(obj: dict[str, Any]) -> Answer:
    text = json.dumps(obj)
    return Answer([text[i:i + 60] for i in range(0, len(text), 60)])


async def preview_text(preview: Any) -> str:
    """The text of the page the preview shows (QtWebEngine or the plain fallback)."""
    if preview.browser is not None:
        return str(preview.browser.toPlainText())
    answers: list[str] = []
    preview.run_javascript("document.body ? document.body.innerText : ''", answers.append)
    await wait_until(lambda: answers, 15, "the preview's text")
    return answers[0] or ""


async def preview_shows(preview: Any, text: str, seconds: float = 30) -> bool:
    """Whether the preview shows ``text`` within ``seconds`` (pages load asynchronously)."""
    for _ in range(int(seconds * 4)):
        if text in await preview_text(preview):
            return True
        await asyncio.sleep(0.25)
    return False


async def snapshot(window: Any, name: str) -> None:
    """With TITAN_SHOTS_DIR set (a look under Xvfb), the window as a picture there."""
    shots = os.environ.get("TITAN_SHOTS_DIR")
    if shots:
        window.resize(1400, 900)
        await asyncio.sleep(1)
        assert window.grab().save(str(Path(shots) / name))


def test_the_copy_is_shown_edited_saved_previewed_and_published(
        titan_env: dict, qloop, monkeypatch: pytest.MonkeyPatch) -> None:
    server = ScriptedAI().then(answer(COPY))
    server.__enter__()
    for key, value in {"TITAN_AI_URL": server.url, "TITAN_AI_MODEL": "scripted",
                       "TITAN_AI_RETRY_BASE_SECONDS": "0.01"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TITAN_AI_BUILDS", raising=False)
    settings = reload_settings()
    index = settings.work_dir / "tea-house" / "dist" / "index.html"
    record = settings.projects_dir / ".ai-builds" / "tea-house.json"

    async def body() -> None:
        async with open_window(settings) as window:
            project = await window.ctx.projects.create({
                "name": "Tea House", "requiresApproval": True,
                "spec": {"description": "A tea house", "features": ["Kettle", "Cups"]}})
            output = window.output_tab.projects_panel
            c = output.controller
            window.tabs.setCurrentWidget(window.output_tab)

            def status() -> str:
                row = c.projects.row_for_key(project.id)
                return c.projects.rows[row].status if row >= 0 else ""

            await wait_until(lambda: status() == "awaiting_approval", 90,
                             "the worker to build the site up to approval")
            output.select_project(project.id)
            panel = output.copy_panel
            await wait_until(lambda: panel.isVisible() and panel.editors, 20,
                             "the Copy panel")
            # Each text of the copy in its own box, the approval buttons beside it.
            assert list(panel.editors) == ["tagline", "about", "features[Kettle]",
                                           "features[Cups]", "bio"]
            assert panel.editors["tagline"].text() == COPY["tagline"]
            assert panel.editors["about"].toPlainText() == COPY["about"]
            assert panel.editors["features[Kettle]"].toPlainText() == COPY["features"][0]["text"]
            assert panel.editors["features[Cups]"].toPlainText() == ""
            assert output.approve_button.isVisible() and output.approve_button.isEnabled()
            assert not panel.save_button.isEnabled()  # nothing changed yet
            await wait_until(lambda: output.preview.page_path is not None, 20, "the preview")
            assert await preview_shows(output.preview, COPY["tagline"])

            # An invalid edit: the error names the field, nothing changes.
            before_html, before_record = index.read_text(), record.read_text()
            panel.editors["tagline"].setText("   ")
            panel.save_button.click()
            await wait_until(lambda: panel.status.text().startswith("Not saved"), 30,
                             "the refusal")
            assert "copy.tagline: must not be empty" in panel.status.text()
            await snapshot(window, "copyedit-refused.png")
            assert (index.read_text(), record.read_text()) == (before_html, before_record)
            # Approving with unsaved edits asks to save or undo them first.
            output.approve_button.click()
            assert "Save or undo your changes" in panel.status.text()
            assert status() == "awaiting_approval"
            panel.revert_button.click()
            assert panel.editors["tagline"].text() == COPY["tagline"]

            # Edit the tagline and save: the site is rendered again and the preview shows it.
            panel.editors["tagline"].setText(NEW_TAGLINE)
            assert panel.save_button.isEnabled()
            panel.save_button.click()
            await wait_until(lambda: panel.status.text().startswith("Saved"), 60, "the save")
            assert panel.status.text().startswith("Saved tagline")
            html = index.read_text()
            assert ESCAPED in html and COPY["tagline"] not in html
            assert json.loads(json.loads(record.read_text())["files"]["src/copy.json"])[
                "tagline"] == NEW_TAGLINE
            assert await preview_shows(output.preview, NEW_TAGLINE), "the preview did not reload"
            assert panel.editors["tagline"].text() == NEW_TAGLINE
            assert not panel.save_button.isEnabled()
            await snapshot(window, "copyedit-output-tab.png")

            # Approve: the published site has the edited copy; the panel goes away.
            output.approve_button.click()
            await wait_until(lambda: status() == "published", 90, "the publish step")
            await wait_until(lambda: not panel.isVisible(), 20, "the Copy panel to close")
            shown = await window.ctx.projects.get(project.id, details=True)
            archive = next(a for a in await window.ctx.projects.artifacts(shown.id)
                           if a.kind == "archive")
            with zipfile.ZipFile(str(archive.path)) as zf:
                zipped = zf.read("index.html").decode()
            assert ESCAPED in zipped and COPY["tagline"] not in zipped
            # Editing after publish is refused, and says why.
            with pytest.raises(Conflict, match="is published"):
                await c.copies.save(project.id, {"tagline": "Too late"})

    try:
        run(qloop, body(), timeout=240)
    finally:
        server.__exit__(None, None, None)


def test_a_template_only_project_shows_no_copy_panel(titan_env: dict, qloop) -> None:
    settings = reload_settings()  # no AI endpoint: the template writes every text

    async def body() -> None:
        async with open_window(settings) as window:
            project = await window.ctx.projects.create({
                "name": "Plain House", "requiresApproval": True,
                "spec": {"features": ["Kettle"]}})
            output = window.output_tab.projects_panel
            c = output.controller
            window.tabs.setCurrentWidget(window.output_tab)
            await wait_until(lambda: c.projects.row_for_key(project.id) >= 0 and c.projects.rows[
                c.projects.row_for_key(project.id)].status == "awaiting_approval", 90,
                "the worker to build the site up to approval")
            output.select_project(project.id)
            await wait_until(lambda: c.selected is not None and c.selected.id == project.id
                             and output.approve_button.isEnabled(), 20, "the approval box")
            assert not output.copy_panel.isVisible()
            assert output.approval_box.isVisible()

    run(qloop, body(), timeout=150)
