"""The Output tab's site preview: the built site in QtWebEngine (Chromium), so its CSS applies as
in a browser; a plain QTextBrowser (HTML 4 subset, no CSS layout) when QtWebEngine cannot start,
with a line that says so.

QtWebEngine must be set up before the QApplication exists (``prepare_web_engine``): its module
imported and ``AA_ShareOpenGLContexts`` set. Run as root, Chromium's sandbox cannot start, so
``--no-sandbox`` is added then; the preview therefore never runs the site's JavaScript (the site
may be model-written) and never loads anything but local files of the site itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QLabel, QTextBrowser, QVBoxLayout, QWidget

_state: dict[str, Any] = {"ready": False, "reason": "QtWebEngine was not set up at start"}


def prepare_web_engine() -> bool:
    """Call before the QApplication is created. True when the preview can use QtWebEngine."""
    if _state["ready"]:
        return True
    if QCoreApplication.instance() is not None:
        _state["reason"] = "QtWebEngine must be set up before the application starts"
        return False
    if os.environ.get("TITAN_NO_WEBENGINE"):
        _state["reason"] = "TITAN_NO_WEBENGINE is set"
        return False
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags = os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
        if "--no-sandbox" not in flags:
            os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = (flags + " --no-sandbox").strip()
    try:
        from PySide6 import QtWebEngineCore, QtWebEngineWidgets  # noqa: F401
    except Exception as exc:  # PySide6-Addons missing, or its system libraries
        _state["reason"] = f"QtWebEngine is not available ({type(exc).__name__}: {exc})"
        return False
    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
    _state["ready"] = True
    return True


def web_engine_ready() -> bool:
    return bool(_state["ready"])


class SitePreview(QWidget):
    """Shows one built page (``show_page(path)``) with the site's own CSS."""

    loadFinished = Signal(bool)  # the page (and its CSS) finished loading; False on failure

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sitePreview")
        self.setMinimumHeight(200)  # a web view asks for nothing; the splitter would squash it
        self.page_path: Path | None = None
        self.notice = QLabel("")
        self.notice.setObjectName("hint")
        self.notice.setWordWrap(True)
        self.notice.setVisible(False)
        self.web: Any = None
        self.browser: QTextBrowser | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.notice)
        if web_engine_ready():
            try:
                self.web = self._make_web_view()
            except Exception as exc:
                _state["reason"] = f"QtWebEngine could not start ({type(exc).__name__}: {exc})"
        if self.web is not None:
            layout.addWidget(self.web, 1)
        else:
            self._use_fallback(str(_state["reason"]))

    @property
    def using_web_engine(self) -> bool:
        return self.web is not None

    def _make_web_view(self) -> Any:
        from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineSettings
        from PySide6.QtWebEngineWidgets import QWebEngineView

        preview = self

        class Page(QWebEnginePage):
            """Stays inside the site's folder; other links open in the person's browser."""

            def acceptNavigationRequest(  # type: ignore[override]  # Qt passes a QUrl, not str
                    self, url: QUrl, kind: Any, main_frame: bool) -> bool:
                if preview.allows(url):
                    return True
                if kind == QWebEnginePage.NavigationType.NavigationTypeLinkClicked:
                    QDesktopServices.openUrl(url)
                return False

        view = QWebEngineView(self)
        view.setPage(Page(view))
        settings = view.settings()
        attribute = QWebEngineSettings.WebAttribute
        settings.setAttribute(attribute.JavascriptEnabled, False)
        settings.setAttribute(attribute.LocalContentCanAccessRemoteUrls, False)
        settings.setAttribute(attribute.PluginsEnabled, False)
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
        view.loadFinished.connect(self.loadFinished)
        view.page().renderProcessTerminated.connect(self._on_render_crash)
        return view

    def allows(self, url: QUrl) -> bool:
        """Only files of the previewed site (its folder and below) load in the preview."""
        if self.page_path is None or not url.isLocalFile():
            return url.scheme() in ("about", "data")
        root = self.page_path.parent.resolve()
        target = Path(url.toLocalFile()).resolve()
        return target == root or root in target.parents

    def _use_fallback(self, reason: str) -> None:
        if self.web is not None:
            self.web.setParent(None)
            self.web.deleteLater()
            self.web = None
        self.notice.setText(f"Simplified preview without the site's CSS: {reason}. "
                            "“Open site in browser” shows it as published.")
        self.notice.setVisible(True)
        self.browser = QTextBrowser()
        self.browser.setOpenLinks(False)
        self.browser.setPlaceholderText("The built site's front page appears here.")
        layout = self.layout()
        assert layout is not None  # set in __init__
        layout.addWidget(self.browser)
        if self.page_path is not None:
            self.show_page(self.page_path)

    def _on_render_crash(self, _status: Any, code: int) -> None:
        self._use_fallback(f"the QtWebEngine renderer stopped (exit code {code})")

    def show_page(self, page: Path | None) -> None:
        self.page_path = page
        if self.web is not None:
            self.web.setUrl(QUrl.fromLocalFile(str(page)) if page else QUrl("about:blank"))
            return
        assert self.browser is not None
        if page is None:
            self.browser.clear()
            return
        self.browser.setSearchPaths([str(page.parent)])
        self.browser.setSource(QUrl.fromLocalFile(str(page)))
        self.loadFinished.emit(True)

    def reload(self) -> None:
        """Load the shown page again from disk (the site was rendered again: an edited copy)."""
        if self.page_path is None:
            return
        if self.web is not None:
            self.web.reload()
            return
        assert self.browser is not None
        self.browser.reload()
        self.loadFinished.emit(True)

    def run_javascript(self, script: str, callback: Any) -> None:
        """Run ``script`` in the application's own JavaScript world (the site's stays off)."""
        from PySide6.QtWebEngineCore import QWebEngineScript

        self.web.page().runJavaScript(script, QWebEngineScript.ScriptWorldId.ApplicationWorld,
                                      callback)
