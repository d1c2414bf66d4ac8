"""Settings → "Jason's voice": pick a voice and rate, hear a preview, and keep the choice.

The voices come from the real espeak-ng (through pyttsx3, as Jason speaks); the preview is a
real WAV synthesized off the UI thread in the chosen voice and rate.
"""

from __future__ import annotations

import json
import os
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import Qt

from tests.desktop.conftest import run
from tests.helpers import wait_until
from titan_desktop.settings_dialog import SettingsDialog
from worker.config import Settings, reload_settings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("TITAN_JASON_VOICE", raising=False)
    monkeypatch.delenv("TITAN_JASON_RATE", raising=False)
    monkeypatch.setenv("TITAN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TITAN_NO_AUDIO", "1")
    reload_settings()
    yield tmp_path / "home"
    reload_settings()


def _seconds(path: Path) -> float:
    with wave.open(str(path)) as f:
        return f.getnframes() / f.getframerate()


def test_choose_a_voice_and_rate_preview_them_and_save(home: Path, qloop: Any,
                                                       qtbot: Any) -> None:
    async def body() -> None:
        dialog = SettingsDialog(Settings())
        try:
            page = dialog.voice_page
            dialog.pages.setCurrentWidget(page)
            dialog.show()
            await wait_until(page.voices.isEnabled, 60, "the voice list")
            ids = [page.voices.itemData(i) for i in range(page.voices.count())]
            assert "gmw/en-GB-x-rp" in ids or any("en-gb" in str(i).lower() for i in ids)
            british = next(i for i, v in enumerate(ids) if "en-gb" in str(v).lower()
                           or "en-GB" in str(v))
            page.voices.setCurrentIndex(british)
            page.rate.setValue(120)
            qtbot.mouseClick(page.preview_button, Qt.MouseButton.LeftButton)
            assert not page.preview_button.isEnabled()  # the UI thread did not wait for it
            slow = await wait_until(lambda: page.last_preview, 120, "the preview")
            slow_seconds = _seconds(slow)
            page.rate.setValue(300)
            qtbot.mouseClick(page.preview_button, Qt.MouseButton.LeftButton)
            fast = await wait_until(lambda: page.last_preview != slow and page.last_preview,
                                    120, "the second preview")
            assert _seconds(fast) < 0.7 * slow_seconds  # the rate is heard
            assert "at 300 words per minute" in page.status.text()
            if os.environ.get("TITAN_SHOTS_DIR"):
                dialog.grab().save(str(Path(os.environ["TITAN_SHOTS_DIR"]) /
                                       "ears-voice-settings.png"))
            assert dialog.save()
        finally:
            dialog.close()
            shiboken6.delete(dialog)
        saved = json.loads((home / "settings.json").read_text())
        assert saved["TITAN_JASON_VOICE"] == ids[british]
        assert saved["TITAN_JASON_RATE"] == 300
        settings = reload_settings()
        assert (settings.jason_voice, settings.jason_rate) == (ids[british], 300)

    run(qloop, body(), timeout=300)
