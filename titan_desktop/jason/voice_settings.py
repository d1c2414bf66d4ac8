"""Settings → "Jason's voice": choose the voice and rate Jason speaks with, and hear a preview.

The page edits the settings dialog's own editors for ``TITAN_JASON_VOICE`` and
``TITAN_JASON_RATE`` (so saving works as for every other setting); the voice editor's line edit
is kept hidden behind a list of the voices espeak-ng has. Listing the voices and synthesizing the
preview run on a thread of their own (a ``Speaker``): the UI thread never waits for espeak-ng.
The preview WAV is played when the machine has an audio output (not with ``TITAN_NO_AUDIO=1``).
"""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PySide6.QtCore import QUrl, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from worker.jason.speech import Speaker, Voice

VOICE_FIELDS = frozenset({"jason_voice", "jason_rate"})
PREVIEW_TEXT = "Hello, I'm Jason. Moon Garden is published, and sales today are forty euros."
MIN_RATE, MAX_RATE = 80, 450


class VoicePage(QWidget):
    voicesListed = Signal(object)  # list[Voice] or an Exception (from the speech thread)
    previewReady = Signal(object)  # Path of the preview WAV or an Exception

    def __init__(self, voice_edit: QLineEdit, rate_spin: QSpinBox,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.voice_edit, self.rate = voice_edit, rate_spin
        self.voice_edit.setVisible(False)  # the list below writes it
        self.rate.setRange(MIN_RATE, MAX_RATE)
        self.rate.setSuffix(" words per minute")
        self.voices = QComboBox()
        self.voices.addItem("Default voice", "")
        self.voices.setEnabled(False)
        self.voices.currentIndexChanged.connect(self._voice_chosen)
        self.preview_button = QPushButton("Preview")
        self.preview_button.clicked.connect(self.preview)
        self.status = QLabel("Listing voices…")
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        self.last_preview: Path | None = None
        self._speech = ThreadPoolExecutor(1, thread_name_prefix="jason-voice-preview")
        self._speaker: Speaker | None = None
        self._wavs = tempfile.TemporaryDirectory(prefix="titan-voice-preview-")
        self._count = 0
        self._effect: Any = None
        self._stopped = False
        self.voicesListed.connect(self._on_voices)
        self.previewReady.connect(self._on_preview)

        form = QFormLayout()
        form.addRow("Voice", self.voices)
        form.addRow("Rate", self.rate)
        row = QHBoxLayout()
        row.addWidget(self.preview_button)
        row.addWidget(self.status, 1)
        layout = QVBoxLayout(self)
        intro = QLabel("How Jason sounds when “Voice replies” is on in the chat.")
        intro.setObjectName("hint")
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addWidget(self.voice_edit)
        layout.addStretch(1)
        self._submit(self._list_voices, self.voicesListed)

    # -- speech thread -------------------------------------------------------------------------

    def _ensure_speaker(self) -> Speaker:
        if self._speaker is None:
            self._speaker = Speaker()
        return self._speaker

    def _list_voices(self) -> list[Voice]:
        return [v for v in self._ensure_speaker().voices()
                if any(str(lang).lower().startswith(("en", "b'\\x05en")) for lang in v.languages)
                or "/en" in v.id or v.id.startswith("en")]

    def _synthesize(self, voice: str | None, rate: int, path: Path) -> Path:
        return self._ensure_speaker().synthesize(PREVIEW_TEXT, path, voice=voice,
                                                 rate=rate).result(timeout=120)

    def _submit(self, work: Any, signal: Any, *args: Any) -> None:
        if self._stopped:
            return

        def done(future: Future[Any]) -> None:
            if self._stopped:
                return
            try:
                signal.emit(future.result())
            except Exception as exc:  # shown in the status line, never raised on a thread
                signal.emit(exc)

        self._speech.submit(work, *args).add_done_callback(done)

    # -- UI thread -----------------------------------------------------------------------------

    def _on_voices(self, voices: object) -> None:
        if isinstance(voices, Exception):
            self.status.setText(f"No voices: {voices}")
            return
        current = self.voice_edit.text().strip()
        assert isinstance(voices, list)
        for voice in sorted(voices, key=lambda v: v.name.lower()):
            self.voices.addItem(f"{voice.name} ({voice.id})", voice.id)
        if current and self.voices.findData(current) < 0:
            self.voices.addItem(current, current)  # a voice set by hand stays as it is
        self.voices.setCurrentIndex(max(0, self.voices.findData(current)))
        self.voices.setEnabled(True)
        self.status.setText(f"{self.voices.count() - 1} voices.")

    def _voice_chosen(self, _index: int) -> None:
        self.voice_edit.setText(str(self.voices.currentData() or ""))

    def preview(self) -> None:
        """Synthesize the preview sentence in the chosen voice and rate (off the UI thread)."""
        self._count += 1
        path = Path(self._wavs.name) / f"preview-{self._count}.wav"
        voice = str(self.voices.currentData() or "") or None
        self.preview_button.setEnabled(False)
        self.status.setText("Speaking…")
        self._submit(self._synthesize, self.previewReady, voice, self.rate.value(), path)

    def _on_preview(self, result: object) -> None:
        self.preview_button.setEnabled(True)
        if isinstance(result, Exception):
            self.status.setText(f"Could not speak: {result}")
            return
        assert isinstance(result, Path)
        self.last_preview = result
        self.status.setText(f"{self.voices.currentText()} at {self.rate.value()} words per "
                            "minute.")
        self._play(result)

    def _play(self, path: Path) -> None:
        if os.environ.get("TITAN_NO_AUDIO") == "1":
            return
        from PySide6 import QtMultimedia

        device = QtMultimedia.QMediaDevices.defaultAudioOutput()
        if device.isNull():
            return
        if self._effect is None:
            self._effect = QtMultimedia.QSoundEffect(device, self)
        self._effect.setSource(QUrl.fromLocalFile(str(path)))
        self._effect.play()

    def stop(self) -> None:
        """The dialog closes: no more signals; the speaker closes on its own thread."""
        self._stopped = True
        if self._effect is not None:
            self._effect.stop()
        self._speech.submit(self._release)
        self._speech.shutdown(wait=False)

    def _release(self) -> None:  # speech thread, after the work already queued
        if self._speaker is not None:
            self._speaker.close()
            self._speaker = None
        self._wavs.cleanup()
