"""The settings dialog's "AI" page: which model is in use, a local Ollama's models, a test.

- "In use now": the configured endpoint (TITAN_AI_URL / TITAN_AI_MODEL), else the local draft
  model when the ai-local extra is installed, else "AI is off" and how to turn it on.
- It says plainly that the tiny local model writes rough drafts, and points to Ollama or a
  hosted model for real work.
- It looks for an Ollama at 127.0.0.1:11434 and lists its models; picking one fills the URL
  (``http://127.0.0.1:11434/v1``) and the model.
- "Test connection" sends the short probe ``titan ai status`` sends, to what the fields say
  now (the stored key when the key field is left empty), as a coroutine on the qasync loop:
  the window never waits. It shows "Answered ... tokens/s" or the client's one-line error.

The key (TITAN_AI_KEY) is a secret like the others in this dialog: a password field that starts
empty, saved to the OS keyring when there is one. Nothing here writes it into any text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from titan_desktop import palette
from worker.ai.discovery import (
    DRAFTS_NOTE,
    TURN_ON_HINT,
    OllamaModel,
    ProbeResult,
    in_use,
    ollama_models,
    probe,
    probe_local,
    v1_url,
)
from worker.ai.endpoint import Endpoint, safe_url
from worker.ai.errors import AIError

if TYPE_CHECKING:
    from titan_desktop.settings_dialog import SettingEditor, SettingsDialog

# Fields shown on this page, in this order; every other field stays on "General".
ENDPOINT_FIELDS = ("ai_url", "ai_model", "ai_key")
MORE_FIELDS = ("ai_local", "ai_timeout_seconds", "ai_max_retries", "ai_retry_base_seconds",
               "ai_max_tokens_per_project", "ai_price_per_mtok_in", "ai_price_per_mtok_out")
AI_FIELDS = frozenset(ENDPOINT_FIELDS + MORE_FIELDS)
TEST_TIMEOUT_SECONDS = 30.0
PLACEHOLDERS = {
    "ai_url": "e.g. http://127.0.0.1:11434/v1 (any OpenAI-compatible /v1 URL)",
    "ai_model": "e.g. llama3.2, gpt-4o-mini, meta-llama/llama-3.1-8b-instruct",
}
CHOOSE = "Choose a model to use it…"
# The page's own colours for its verdicts (the same as the status bar's in titan.qss).
STYLE = f"""
QLabel#aiInUse {{ font-weight: bold; }}
QLabel#aiInUse[state="bad"], QLabel#aiTestResult[state="bad"] {{ color: {palette.DANGER}; }}
QLabel#aiInUse[state="warn"] {{ color: {palette.TEXT_WARN}; }}
QLabel#aiTestResult[state="ok"] {{ color: {palette.TEXT_OK}; }}
"""


def _wrapping(text: str = "", name: str | None = None) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if name:
        label.setObjectName(name)
    return label


class AIPage(QWidget):
    def __init__(self, dialog: SettingsDialog, *, ollama_base: str) -> None:
        super().__init__()
        self.setStyleSheet(STYLE)
        self.dialog = dialog
        self.settings = dialog.settings
        self.ollama_base = ollama_base.rstrip("/")
        self._tasks: set[asyncio.Task[Any]] = set()
        self.models: list[OllamaModel] = []
        self.last_result: ProbeResult | None = None

        # -- in use now
        now = in_use(self.settings)
        self.in_use = now
        self.in_use_label = _wrapping(now.sentence, "aiInUse")
        self.in_use_label.setProperty("state", {"off": "warn", "misconfigured": "bad"}
                                      .get(now.kind, ""))
        self.turn_on = _wrapping(now.turn_on.replace("in File → Settings → AI", "below"), "hint")
        self.turn_on.setVisible(now.kind in ("off", "misconfigured"))
        self.drafts = _wrapping(DRAFTS_NOTE, "aiDraftsNote")
        in_use_box = QGroupBox("In use now")
        column = QVBoxLayout(in_use_box)
        column.addWidget(self.in_use_label)
        column.addWidget(self.turn_on)
        column.addWidget(self.drafts)

        # -- Ollama on this machine
        self.ollama_status = _wrapping(f"Looking for Ollama at {safe_url(self.ollama_base)}…",
                                       "ollamaStatus")
        self.ollama_combo = QComboBox()
        self.ollama_combo.setObjectName("ollamaModels")
        self.ollama_combo.setEnabled(False)
        self.ollama_combo.setPlaceholderText("No models found")
        self.ollama_combo.activated.connect(self._model_chosen)
        self.ollama_refresh = QPushButton("Look again")
        self.ollama_refresh.clicked.connect(self.find_ollama)
        ollama_box = QGroupBox("Ollama on this machine")
        ollama_column = QVBoxLayout(ollama_box)
        ollama_column.addWidget(self.ollama_status)
        pick = QHBoxLayout()
        pick.addWidget(self.ollama_combo, 1)
        pick.addWidget(self.ollama_refresh)
        ollama_column.addLayout(pick)

        # -- the endpoint, and the test
        endpoint_box = QGroupBox("Endpoint (OpenAI-compatible: Ollama, llama.cpp, vLLM, LM "
                                 "Studio, OpenAI, OpenRouter, ...)")
        form = QFormLayout(endpoint_box)
        for name in ENDPOINT_FIELDS:
            editor = self.editor(name)
            if name in PLACEHOLDERS:
                editor.edit.setPlaceholderText(PLACEHOLDERS[name])
            if name == "ai_key" and not editor.had_secret:
                editor.edit.setPlaceholderText("not set (Ollama needs none; hosted APIs do)")
            form.addRow(editor.env, dialog.row(editor))
        self.test_button = QPushButton("Test connection")
        self.test_button.setObjectName("aiTest")
        self.test_button.clicked.connect(self.test_connection)
        self.test_result = _wrapping("", "aiTestResult")
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button, 0, Qt.AlignmentFlag.AlignTop)
        test_row.addWidget(self.test_result, 1)
        form.addRow(test_row)

        more_box = QGroupBox("Limits and prices")
        more = QFormLayout(more_box)
        for name in MORE_FIELDS:
            more.addRow(self.editor(name).env, dialog.row(self.editor(name)))

        inner = QWidget()
        layout = QVBoxLayout(inner)
        for box in (in_use_box, ollama_box, endpoint_box, more_box):
            layout.addWidget(box)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.find_ollama()

    def editor(self, name: str) -> SettingEditor:
        return self.dialog.editor(name)

    # -- background work ---------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def stop(self) -> None:
        """Cancel what is still running (the dialog is closing)."""
        for task in list(self._tasks):
            task.cancel()

    async def idle(self) -> None:
        """Wait until no look-up or test is running (tests use it)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- Ollama ------------------------------------------------------------------------------

    def find_ollama(self) -> None:
        self.ollama_refresh.setEnabled(False)
        self.ollama_status.setText(f"Looking for Ollama at {safe_url(self.ollama_base)}…")
        self._spawn(self._find_ollama())

    async def _find_ollama(self) -> None:
        where = safe_url(self.ollama_base)
        try:
            models = await ollama_models(self.ollama_base)
        except AIError as exc:
            self.models = []
            self.ollama_combo.clear()
            self.ollama_combo.setEnabled(False)
            self.ollama_status.setText(
                f"No Ollama found: {exc}. To run good models on this machine for free, install "
                f"Ollama (ollama.com), run `ollama pull llama3.2`, then press Look again.")
            return
        finally:
            self.ollama_refresh.setEnabled(True)
        self.models = models
        self.ollama_combo.clear()
        if not models:
            self.ollama_combo.setEnabled(False)
            self.ollama_status.setText(f"Ollama is running at {where} but has no models yet: "
                                       f"run `ollama pull llama3.2`, then press Look again.")
            return
        self.ollama_combo.addItem(CHOOSE, None)
        for model in models:
            self.ollama_combo.addItem(model.label, model.name)
        # With a placeholder text set, a filled combo box still selects nothing by itself.
        self.ollama_combo.setCurrentIndex(0)
        self.ollama_combo.setEnabled(True)
        count = f"{len(models)} model{'s' if len(models) != 1 else ''}"
        self.ollama_status.setText(f"Ollama at {where} has {count}. Pick one to use it "
                                   f"(fills TITAN_AI_URL and TITAN_AI_MODEL below).")
        current = self.editor("ai_model").edit.text().strip()
        url = self.editor("ai_url").edit.text().strip()
        if url.rstrip("/") == v1_url(self.ollama_base):
            index = self.ollama_combo.findData(current)
            if index > 0:
                self.ollama_combo.setCurrentIndex(index)

    def _model_chosen(self, index: int) -> None:
        name = self.ollama_combo.itemData(index)
        if name:
            self.choose_ollama_model(str(name))

    def choose_ollama_model(self, name: str) -> None:
        self.editor("ai_url").edit.setText(v1_url(self.ollama_base))
        self.editor("ai_model").edit.setText(name)
        self.test_result.setText(f"{name} on Ollama: press Test connection to try it, Save to "
                                 f"use it.")

    # -- test connection ---------------------------------------------------------------------

    def entered_endpoint(self) -> Endpoint | None:
        """The endpoint the fields describe now; None when no URL is entered."""
        url = self.editor("ai_url").edit.text().strip()
        model = self.editor("ai_model").edit.text().strip()
        if not url:
            return None
        key_editor = self.editor("ai_key")
        typed = key_editor.edit.text().strip()
        key: SecretStr | None
        if typed:
            key = SecretStr(typed)
        elif key_editor.had_secret and not key_editor.cleared:
            key = self.settings.ai_key
        else:
            key = None
        return Endpoint(url.rstrip("/"), model, key)

    def test_connection(self) -> None:
        if not self.test_button.isEnabled():
            return  # a test is under way
        endpoint = self.entered_endpoint()
        if endpoint is not None:
            if not endpoint.url.startswith(("http://", "https://")):
                self._show_error("TITAN_AI_URL must start with http:// or https://")
                return
            if not endpoint.model:
                self._show_error("enter the model name (TITAN_AI_MODEL), or pick an Ollama "
                                 "model above")
                return
            what = f"Asking {endpoint.model} at {endpoint.safe_url}…"
            work = probe(endpoint, timeout_seconds=min(self.settings.ai_timeout_seconds,
                                                       TEST_TIMEOUT_SECONDS))
        elif self.editor("ai_local").check.isChecked() and _local_available():
            what = "Starting the local draft model and asking it…"
            work = probe_local()
        else:
            why = ("the local draft model is switched off (TITAN_AI_LOCAL)"
                   if _local_available() else "the local draft model is not installed")
            hint = TURN_ON_HINT.replace("in File → Settings → AI", "above")
            self._show_error(f"no URL is entered and {why}. {hint}")
            return
        self.test_button.setEnabled(False)
        self.test_result.setProperty("state", "")
        self._restyle()
        self.test_result.setText(what)
        self._spawn(self._test(work))

    async def _test(self, work: Coroutine[Any, Any, ProbeResult]) -> None:
        try:
            result = await work
        finally:
            self.test_button.setEnabled(True)
        self.last_result = result
        text = result.summary
        if result.answered and result.local:
            text += " It writes rough drafts only; use Ollama or a hosted model for real work."
        self.test_result.setText(text)
        self.test_result.setProperty("state", "ok" if result.answered else "bad")
        self._restyle()

    def _show_error(self, text: str) -> None:
        self.test_result.setText(f"Cannot test: {text}")
        self.test_result.setProperty("state", "bad")
        self._restyle()

    def _restyle(self) -> None:
        self.test_result.style().unpolish(self.test_result)
        self.test_result.style().polish(self.test_result)


def _local_available() -> bool:
    from worker.ai.local import local_unavailable_reason

    return local_unavailable_reason() is None
