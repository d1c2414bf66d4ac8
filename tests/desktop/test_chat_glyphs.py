"""The chat panel draws no empty glyph boxes: every character it shows is in the widget's font.

The fonts here are what a plain Debian desktop has (DejaVu), with no emoji font; a character the
font lacks (the old "🎤" on the talk button, "⏸" in event lines) is drawn as an empty box.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QFontMetrics

from titan_desktop.context import AppContext
from titan_desktop.input.chat import EVENT_ICONS, ChatPanel
from worker.db.engine import Database


def _missing(text: str, metrics: QFontMetrics) -> list[str]:
    return [ch for ch in text if not ch.isspace() and not metrics.inFontUcs4(ord(ch))]


def test_talk_button_and_event_signs_have_no_missing_glyphs(settings, db_url: str, qtbot,
                                                            tmp_path: Path) -> None:
    panel = ChatPanel(AppContext(settings, Database(db_url)))
    qtbot.addWidget(panel)
    panel.show()
    button = panel.talk_button
    assert button.text() == "Hold to talk"
    assert _missing(button.text(), QFontMetrics(button.font())) == []
    assert not button.icon().isNull(), "the microphone icon (resources/icons) did not load"
    transcript_font = QFontMetrics(panel.transcript.font())
    assert _missing("".join(EVENT_ICONS.values()), transcript_font) == []
    assert button.grab().save(str(tmp_path / "talk-button.png"))
