"""The Output tab previews the built site as a browser shows it (QtWebEngine), with its CSS.

Before, a QTextBrowser drew the nav as "HomeBlogNewsletterAbout": no CSS, so the feature links
(written without spaces between them) ran together. A project with two features is created and
published by the real worker; the preview loads its page and the nav links' boxes, measured in
the page, are apart, and styled by the site's stylesheet (not underlined).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from tests.desktop.conftest import open_window, run, wait_until
from titan_desktop.output.web import web_engine_ready
from worker.config import reload_settings

NAV_BOXES = """JSON.stringify([...document.querySelectorAll('nav a')].map(a => {
    const box = a.getBoundingClientRect();
    return {text: a.textContent.trim(), left: box.left, right: box.right,
            underline: getComputedStyle(a).textDecorationLine};
}))"""


def test_output_preview_applies_the_sites_css(titan_env: dict, qloop, tmp_path: Path) -> None:
    if not web_engine_ready():
        pytest.fail("QtWebEngine did not start (see titan_desktop.output.web)")

    async def body() -> None:
        async with open_window(reload_settings()) as window:
            project = await window.ctx.projects.create({
                "name": "Nav Check", "spec": {"features": ["Blog", "Newsletter"]}})
            output = window.output_tab.projects_panel
            window.tabs.setCurrentWidget(window.output_tab)
            await wait_until(lambda: output.controller.projects.row_for_key(project.id) >= 0
                             and output.controller.projects.rows[
                                 output.controller.projects.row_for_key(project.id)].status
                             == "published", 90, "the worker to publish the site")
            preview = output.preview
            assert preview.using_web_engine and not preview.notice.isVisible()
            loads: list[bool] = []
            preview.loadFinished.connect(loads.append)
            output.select_project(project.id)
            await wait_until(lambda: loads, 30, "the preview to load")
            assert loads[-1] is True
            assert preview.page_path is not None and preview.page_path.name == "index.html"

            answers: list[str] = []
            preview.run_javascript(NAV_BOXES, answers.append)
            await wait_until(lambda: answers, 15, "the nav measurements")
            links = json.loads(answers[0])
            assert [link["text"] for link in links] == ["Home", "Blog", "Newsletter", "About"]
            for before, after in itertools.pairwise(links):
                assert after["left"] - before["right"] >= 4, f"{before} touches {after}"
            assert {link["underline"] for link in links} == {"none"}  # the site's CSS applied
            assert preview.grab().save(str(tmp_path / "preview.png"))

    run(qloop, body(), timeout=150)


def test_preview_falls_back_to_plain_html_and_says_so(qtbot, monkeypatch, tmp_path: Path) -> None:
    """When QtWebEngine cannot start, the old browser shows the page and a line says why."""
    from titan_desktop.output import web

    monkeypatch.setitem(web._state, "ready", False)
    monkeypatch.setitem(web._state, "reason", "QtWebEngine is not available (test)")
    page = tmp_path / "index.html"
    page.write_text("<html><body><h1>Plain</h1></body></html>", encoding="utf-8")
    preview = web.SitePreview()
    qtbot.addWidget(preview)
    preview.show_page(page)
    assert not preview.using_web_engine and preview.browser is not None
    assert "Plain" in preview.browser.toPlainText()
    assert preview.notice.isVisibleTo(preview)
    assert "QtWebEngine is not available (test)" in preview.notice.text()
