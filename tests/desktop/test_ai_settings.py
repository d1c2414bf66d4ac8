"""The settings dialog's AI page and the status bar's AI indicator.

Real HTTP on loopback throughout:
- ``FakeOllama`` answers ``GET /api/tags`` exactly as Ollama's documented API does
  (https://github.com/ollama/ollama/blob/main/docs/api.md#list-local-models); it is a stand-in
  for an Ollama install, serving only that listing, no model;
- "Test connection" goes to the SCRIPTED OpenAI-compatible server of tests/ai/scripted.py (it
  checks the bearer key and the model name as a hosted API does);
- when the ai-local extra is installed, one test starts the real local model (llama.cpp's
  server with SmolLM2) from the dialog.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import keyring
import pytest
import shiboken6
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QComboBox, QLabel, QLineEdit, QWidget

from tests.ai.conftest import AI_ENV
from tests.ai.scripted import Answer, ScriptedAI
from tests.desktop.conftest import open_window, run
from titan_desktop.secrets import SECRET_NAMES, load_secrets_into_env, service
from titan_desktop.settings_dialog import SettingsDialog
from titan_desktop.statusbar import StatusBar
from worker.ai.local import INSTALL_HINT, LOCAL_MODEL, LocalServer, local_unavailable_reason
from worker.config import Settings, reload_settings

KEY = "sk-test-7f3a9c1e5b2d"
TAGS = {"models": [
    {"name": "llama3.2:latest", "model": "llama3.2:latest",
     "modified_at": "2026-11-02T10:21:09.6Z", "size": 2019393189,
     "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
     "details": {"parent_model": "", "format": "gguf", "family": "llama",
                 "families": ["llama"], "parameter_size": "3.2B",
                 "quantization_level": "Q4_K_M"}},
    {"name": "qwen2.5:7b", "model": "qwen2.5:7b", "modified_at": "2026-10-30T08:00:00Z",
     "size": 4683087332,
     "digest": "845dbda0ea48ed749caafd9e6037047aa19acfcfd82e704d7ca97d631a0b697e",
     "details": {"parent_model": "", "format": "gguf", "family": "qwen2",
                 "families": ["qwen2"], "parameter_size": "7.6B",
                 "quantization_level": "Q4_K_M"}},
]}


class FakeOllama:
    """Ollama's documented ``GET /api/tags`` on loopback (the model list, nothing else)."""

    def __init__(self, tags: dict[str, Any]) -> None:
        body = json.dumps(tags).encode()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/api/tags":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> FakeOllama:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class MemoryKeyring(KeyringBackend):
    """A keyring backend held in memory (the keyring package's plug-in interface): the
    dialog stores through the real ``keyring`` API without touching the developer's keyring."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.items.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A Titan home with no AI settings from the environment (as tests/ai/conftest.py)."""
    for key in AI_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("TITAN_HOME", str(tmp_path / "home"))
    reload_settings()
    yield tmp_path / "home"
    reload_settings()


@pytest.fixture
def nowhere() -> str:
    """An Ollama address where nothing listens."""
    return f"http://127.0.0.1:{closed_port()}"


W = TypeVar("W", bound=QWidget)


@pytest.fixture
def owned(qloop: Any) -> Iterator[Callable[[W], W]]:
    """Widgets deleted at the test's end, here on the GUI thread, while the loop still runs."""
    made: list[QWidget] = []

    def own(widget: W) -> W:
        made.append(widget)
        return widget

    yield own
    for widget in made:
        if shiboken6.isValid(widget):
            widget.close()
            shiboken6.delete(widget)


def texts(widget: QWidget) -> list[str]:
    """Every text the dialog shows: labels, fields as displayed, buttons, combo items."""
    shown = [label.text() for label in widget.findChildren(QLabel)]
    shown += [edit.displayText() for edit in widget.findChildren(QLineEdit)]
    shown += [edit.placeholderText() for edit in widget.findChildren(QLineEdit)]
    shown += [button.text() for button in widget.findChildren(QAbstractButton)]
    for combo in widget.findChildren(QComboBox):
        shown += [combo.itemText(i) for i in range(combo.count())]
    return shown


def fill(dialog: SettingsDialog, url: str, model: str, key: str | None = None) -> None:
    dialog.editor("ai_url").edit.setText(url)
    dialog.editor("ai_model").edit.setText(model)
    if key is not None:
        dialog.editor("ai_key").edit.setText(key)


async def press_test(dialog: SettingsDialog, qtbot: Any) -> str:
    page = dialog.ai_page
    qtbot.mouseClick(page.test_button, Qt.MouseButton.LeftButton)
    await page.idle()
    assert page.test_button.isEnabled()
    return page.test_result.text()


def test_dialog_lists_a_local_ollamas_models_and_picking_one_fills_url_and_model(
        home: Path, qloop: Any, qtbot: Any, owned: Any) -> None:
    async def body() -> None:
        with FakeOllama(TAGS) as ollama:
            dialog = owned(SettingsDialog(Settings(), ollama_base=ollama.base))
            page = dialog.ai_page
            dialog.pages.setCurrentWidget(page)
            dialog.show()
            await page.idle()
            combo = page.ollama_combo
            items = [combo.itemText(i) for i in range(combo.count())]
            assert combo.isEnabled()
            assert combo.currentText() == "Choose a model to use it…"
            assert items[1:] == ["llama3.2:latest (3.2B, Q4_K_M, 2.0 GB)",
                                 "qwen2.5:7b (7.6B, Q4_K_M, 4.7 GB)"]
            assert f"Ollama at {ollama.base} has 2 models" in page.ollama_status.text()

            combo.setCurrentIndex(2)
            combo.activated.emit(2)  # what a click on the item in the open list sends
            assert dialog.editor("ai_url").edit.text() == f"{ollama.base}/v1"
            assert dialog.editor("ai_model").edit.text() == "qwen2.5:7b"

            assert dialog.save()
        saved = json.loads((home / "settings.json").read_text())
        assert saved["TITAN_AI_URL"] == f"{ollama.base}/v1"
        assert saved["TITAN_AI_MODEL"] == "qwen2.5:7b"
        settings = reload_settings()
        assert (settings.ai_url, settings.ai_model) == (f"{ollama.base}/v1", "qwen2.5:7b")

        # Opened again, the page says what is in use and the list shows the chosen model.
        with FakeOllama(TAGS) as again:
            settings = Settings(TITAN_AI_URL=f"{again.base}/v1", TITAN_AI_MODEL="qwen2.5:7b")
            dialog = owned(SettingsDialog(settings, ollama_base=again.base))
            await dialog.ai_page.idle()
            assert dialog.ai_page.in_use_label.text() == \
                f"In use: model qwen2.5:7b at {again.base}/v1."
            assert dialog.ai_page.ollama_combo.currentData() == "qwen2.5:7b"

    run(qloop, body())


def test_no_ollama_says_how_to_get_one(home: Path, nowhere: str, qloop: Any, qtbot: Any, owned: Any
                                       ) -> None:
    async def body() -> None:
        dialog = owned(SettingsDialog(Settings(), ollama_base=nowhere))
        await dialog.ai_page.idle()
        status = dialog.ai_page.ollama_status.text()
        assert status.startswith(f"No Ollama found: no server at {nowhere} "
                                 "(connection refused)")
        assert "ollama pull llama3.2" in status
        assert not dialog.ai_page.ollama_combo.isEnabled()

    run(qloop, body())


def test_a_server_that_lists_no_models_is_named_as_such(home: Path, qloop: Any, qtbot: Any,
                                                         owned: Any) -> None:
    async def body() -> None:
        with ScriptedAI() as server:  # chat completions only: no model list
            root = server.url.removesuffix("/v1")
            dialog = owned(SettingsDialog(Settings(), ollama_base=root))
            await dialog.ai_page.idle()
            assert dialog.ai_page.ollama_status.text().startswith(
                f"No Ollama found: {root} lists no models (HTTP 501 for /api/tags, 501 for "
                "/v1/models)")
            assert not dialog.ai_page.ollama_combo.isEnabled()

    run(qloop, body())


def test_an_openai_compatible_server_is_listed_through_v1_models(
        home: Path, qloop: Any, qtbot: Any, owned: Any, tmp_path: Path) -> None:
    """llama.cpp's own server (the local model) has no /api/tags: /v1/models lists it."""
    reason = local_unavailable_reason()
    if reason is not None:
        pytest.skip(f"the ai-local extra is not installed: {reason}")

    async def body() -> None:
        async with LocalServer(log_path=tmp_path / "llama.log") as server:
            root = server.url.removesuffix("/v1")
            dialog = owned(SettingsDialog(Settings(), ollama_base=root))
            page = dialog.ai_page
            await page.idle()
            combo = page.ollama_combo
            assert [combo.itemText(i) for i in range(1, combo.count())] == [LOCAL_MODEL]
            combo.setCurrentIndex(1)
            combo.activated.emit(1)
            assert dialog.editor("ai_url").edit.text() == server.url
            result = await press_test(dialog, qtbot)
            assert result.startswith(f"Answered: {LOCAL_MODEL} at {server.url}, ")

    run(qloop, body(), timeout=240)


def test_connection_answers_with_tokens_per_second_and_sends_the_key(
        home: Path, nowhere: str, qloop: Any, qtbot: Any, owned: Any) -> None:
    async def body() -> None:
        with ScriptedAI(key=KEY, models=("gpt-4o-mini",)) as server:
            server.then(Answer(pieces=[f"{n} " for n in range(1, 31)]))
            dialog = owned(SettingsDialog(Settings(), ollama_base=nowhere))
            fill(dialog, server.url, "gpt-4o-mini", KEY)
            result = await press_test(dialog, qtbot)
            assert result.startswith(f"Answered: gpt-4o-mini at {server.url}, ")
            assert "tokens/s" in result
            assert dialog.ai_page.test_result.property("state") == "ok"
            (request,) = server.requests
            assert request.headers["authorization"] == f"Bearer {KEY}"
            assert request.body["model"] == "gpt-4o-mini"
            assert not any(KEY in text for text in texts(dialog))

    run(qloop, body())


@pytest.mark.parametrize("case", ["wrong key", "unknown model", "unreachable"])
def test_connection_failures_show_one_clear_line(case: str, home: Path, nowhere: str,
                                                 qloop: Any, qtbot: Any, owned: Any) -> None:
    async def body() -> None:
        with ScriptedAI(key=KEY, models=("gpt-4o-mini",)) as server:
            dialog = owned(SettingsDialog(Settings(), ollama_base=nowhere))
            wrong = "sk-wrong-1234567890"
            if case == "wrong key":
                fill(dialog, server.url, "gpt-4o-mini", wrong)
            elif case == "unknown model":
                fill(dialog, server.url, "no-such-model", KEY)
            else:
                fill(dialog, f"http://127.0.0.1:{closed_port()}/v1", "gpt-4o-mini", KEY)
            result = await press_test(dialog, qtbot)
            expected = {
                "wrong key": "refused the key (HTTP 401); check TITAN_AI_KEY",
                "unknown model": "has no model 'no-such-model'",
                "unreachable": "is unreachable",
            }[case]
            assert result.startswith("No answer: AI endpoint ")
            assert expected in result
            assert "\n" not in result
            assert dialog.ai_page.test_result.property("state") == "bad"
            assert not any(KEY in text or wrong in text for text in texts(dialog))

    run(qloop, body())


def test_with_no_ai_the_dialog_and_status_bar_say_it_is_off_and_how_to_turn_it_on(
        home: Path, nowhere: str, qloop: Any, qtbot: Any, owned: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TITAN_AI_LOCAL", "0")  # the local model may be installed here

    async def body() -> None:
        settings = Settings()
        dialog = owned(SettingsDialog(settings, ollama_base=nowhere))
        page = dialog.ai_page
        dialog.pages.setCurrentWidget(page)
        dialog.show()
        await page.idle()
        assert page.in_use_label.text().startswith("AI is off: no URL is set")
        assert page.turn_on.isVisible()
        assert "pick an Ollama model" in page.turn_on.text()
        assert "TITAN_AI_LOCAL on" in page.turn_on.text()
        assert "rough drafts" in page.drafts.text() and "Ollama" in page.drafts.text()
        result = await press_test(dialog, qtbot)
        assert result.startswith("Cannot test: no URL is entered and the local draft model")

        bar = owned(StatusBar())
        bar.show_ai(settings)
        assert bar.ai.text() == "AI off"
        assert "Turn AI on: pick an Ollama model in File → Settings → AI" in bar.ai.toolTip()

    run(qloop, body())


def test_without_the_local_model_ai_off_says_to_install_it(home: Path) -> None:
    from worker.ai.discovery import in_use

    if local_unavailable_reason() is None:
        pytest.skip("the ai-local extra is installed here; the other tests cover 'switched off'")
    state = in_use(Settings())
    assert state.label == "AI off"
    assert f"install the local draft model: {INSTALL_HINT}" in state.tooltip


@pytest.mark.parametrize(("env", "label"), [
    ({"TITAN_AI_URL": "http://127.0.0.1:11434/v1", "TITAN_AI_MODEL": "llama3.2:latest"},
     "AI: llama3.2 @ ollama"),
    ({"TITAN_AI_URL": "https://api.openai.com/v1", "TITAN_AI_MODEL": "gpt-4o-mini",
      "TITAN_AI_KEY": KEY}, "AI: gpt-4o-mini @ api.openai.com"),
    ({"JASON_LLM_URL": "http://localhost:8080/v1", "JASON_LLM_MODEL": "qwen"},
     "AI: qwen @ localhost:8080"),  # the older names still configure the endpoint
    ({"TITAN_AI_URL": "http://127.0.0.1:11434/v1"}, "AI: not set up right"),
])
def test_status_bar_names_the_configured_model(env: dict[str, str], label: str, home: Path,
                                               owned: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    bar = owned(StatusBar())
    bar.show_ai(Settings())
    assert bar.ai.text() == label
    assert KEY not in bar.ai.toolTip()
    if label == "AI: not set up right":
        assert "TITAN_AI_URL is set but no model is named" in bar.ai.toolTip()


def test_the_key_goes_to_the_keyring_and_is_never_shown(
        home: Path, nowhere: str, qloop: Any, qtbot: Any, owned: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert "TITAN_AI_KEY" in SECRET_NAMES
    monkeypatch.delenv("TITAN_NO_KEYRING")
    store = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(store)
    try:
        async def body() -> None:
            dialog = owned(SettingsDialog(Settings(), ollama_base=nowhere))
            await dialog.ai_page.idle()
            fill(dialog, "https://api.openai.com/v1", "gpt-4o-mini", KEY)
            assert not any(KEY in text for text in texts(dialog))
            assert dialog.save()
            saved = (home / "settings.json").read_text()
            assert KEY not in saved
            assert json.loads(saved)["TITAN_AI_MODEL"] == "gpt-4o-mini"
            assert store.items[(service(), "TITAN_AI_KEY")] == KEY

            # Next start: the desktop loads it into its environment (its worker inherits it).
            monkeypatch.delenv("TITAN_AI_KEY", raising=False)
            assert "TITAN_AI_KEY" in load_secrets_into_env()
            settings = reload_settings()
            assert settings.ai_key is not None and settings.ai_key.get_secret_value() == KEY

            again = owned(SettingsDialog(settings, ollama_base=nowhere))
            await again.ai_page.idle()
            key_field = again.editor("ai_key").edit
            assert key_field.text() == "" and key_field.echoMode() == QLineEdit.EchoMode.Password
            assert key_field.placeholderText().startswith("••••••")
            assert not any(KEY in text for text in texts(again))
        run(qloop, body())
    finally:
        keyring.set_keyring(previous)
        os.environ.pop("TITAN_AI_KEY", None)


def test_without_a_keyring_the_key_goes_to_an_owner_only_settings_file(
        home: Path, nowhere: str, qloop: Any, qtbot: Any, owned: Any) -> None:
    async def body() -> None:
        dialog = owned(SettingsDialog(Settings(), ollama_base=nowhere))
        await dialog.ai_page.idle()
        assert not dialog.keyring  # TITAN_NO_KEYRING (tests/desktop/conftest.py)
        fill(dialog, "https://api.openai.com/v1", "gpt-4o-mini", KEY)
        assert dialog.save()
        path = home / "settings.json"
        assert json.loads(path.read_text())["TITAN_AI_KEY"] == KEY
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        settings = reload_settings()
        assert settings.ai_key is not None and settings.ai_key.get_secret_value() == KEY

        # The stored key is used for a test (the field stays empty) and never shown.
        with ScriptedAI(key=KEY, models=("gpt-4o-mini",)) as server:
            server.then(Answer(pieces=["1 2 3"]))
            again = owned(SettingsDialog(settings, ollama_base=nowhere))
            fill(again, server.url, "gpt-4o-mini")
            assert (await press_test(again, qtbot)).startswith("Answered")
            assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
            assert not any(KEY in text for text in texts(again))

    run(qloop, body())


def test_the_local_draft_model_answers_a_test_and_is_called_a_draft_writer(
        home: Path, nowhere: str, qloop: Any, qtbot: Any, owned: Any) -> None:
    reason = local_unavailable_reason()
    if reason is not None:
        pytest.skip(f"the ai-local extra is not installed: {reason}")

    async def body() -> None:
        settings = Settings()
        dialog = owned(SettingsDialog(settings, ollama_base=nowhere))
        page = dialog.ai_page
        assert page.in_use_label.text().startswith("In use: the local draft model")
        assert not page.turn_on.isVisibleTo(dialog)
        result = await press_test(dialog, qtbot)
        assert result.startswith("Answered: smollm2-135m-instruct at http://127.0.0.1:")
        assert "rough drafts only" in result

        bar = owned(StatusBar())
        bar.show_ai(settings)
        assert bar.ai.text() == "AI: local draft model"
        assert "rough drafts" in bar.ai.toolTip()

    run(qloop, body(), timeout=240)


def test_the_window_status_bar_shows_the_ai_in_use(titan_env: dict, qloop: Any, owned: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for key in AI_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("TITAN_AI_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("TITAN_AI_MODEL", "llama3.2:latest")

    async def body() -> None:
        async with open_window(reload_settings(), spawn_worker=False) as window:
            owned(window)
            assert window.status.ai.text() == "AI: llama3.2 @ ollama"
            assert window.status.ai.isVisible()

    run(qloop, body())
