"""Jason's ears and mouth in the desktop: microphone -> recognizer -> chat, replies -> speaker.

Listening: QtMultimedia ``QAudioSource`` (16 kHz mono Int16) in push-to-talk ("Hold to talk")
or always-listening mode. Every chunk — from the microphone or from ``feed_audio`` (tests,
scripts) — goes to the recognizer's ``Listener`` on one worker thread: decoding is CPU-heavy
and must never block the qasync loop; one thread keeps chunks in order and the pocketsphinx
decoders single-threaded. Recognized commands come back to the UI thread and their parse goes
straight to the brain (``JasonDesk.handle_voice``; the chat shows the heard text and the answer),
so spoken and typed commands share the brain and its "are you sure?" state. A rejected utterance
gets "Sorry, I didn't catch that" and never an action (nor does it reach the brain, so a
question still waiting for "yes" or "no" stays open).

Vocabulary: the decoders know the names of the existing projects (refreshed when the projects
table changes). A NEW project's name ("create a project called ...") is heard by the
recognizer's open-vocabulary names decoder and read back by the brain before anything is
created (``Parse.read_back``).

Speaking: with "Voice replies" on, every ``JasonDesk.said`` text is synthesized by ``Speaker``
(its own thread) into a temporary WAV and played with ``QSoundEffect``. Without an audio output
device (servers, CI) the WAV is still written (``last_spoken_wav``, ``spoken``) and playback is
skipped silently. While Jason plays a reply the microphone's chunks are dropped, so an
always-listening Jason does not hear himself.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, QtMsgType, QUrl, Signal, qInstallMessageHandler

from worker.jason.audio import RATE, Int16, to_16k_mono
from worker.jason.parser import Parse
from worker.jason.recognizer import Listener, Recognizer
from worker.jason.speech import Speaker
from worker.logs import get_logger

if TYPE_CHECKING:
    from PySide6.QtMultimedia import QAudioDevice, QAudioFormat, QAudioSource

    from titan_desktop.input.chat import ChatPanel
    from titan_desktop.jason.desk import JasonDesk

log = get_logger("titan.jason.voice")
# Audio the microphone may hold while the UI thread is busy. Qt's default (about 250 ms) lost
# the middle of a command when the machine was loaded; reads still come every period, so a
# larger buffer costs no latency.
MICROPHONE_BUFFER_US = 2_000_000
DIDNT_CATCH = "Sorry, I didn't catch that."
NO_MICROPHONE = "No microphone found: type to Jason in the chat instead."
NO_TTS = "No speech synthesizer found (install espeak-ng) — replies are shown, not spoken."
# QtMultimedia is imported lazily, inside _quiet_multimedia_probe: importing it already probes
# the backends. What it prints on a machine without a sound server or video acceleration is a
# fact about the machine (shown in the UI as a disabled microphone), not a fault of Titan.
_BACKEND_NOISE = ("Couldn't load ", "Couldn't resolve ", "PulseAudioService: ")


@contextlib.contextmanager
def _quiet_multimedia_probe() -> Iterator[None]:
    """Swallow QtMultimedia's backend-probing warnings; pass every other message on."""
    previous: Callable[..., Any] | None = None

    def handler(mode: QtMsgType, context: Any, message: str) -> None:
        if mode == QtMsgType.QtWarningMsg and message.startswith(_BACKEND_NOISE):
            return
        if callable(previous):
            previous(mode, context, message)

    previous = qInstallMessageHandler(handler)
    try:
        yield
    finally:
        qInstallMessageHandler(previous)


def tts_available() -> bool:
    return bool(shutil.which("espeak-ng") or shutil.which("espeak")
                or importlib.util.find_spec("pyttsx3"))


class VoiceController(QObject):
    heard = Signal(object)  # every decoded utterance (a Parse; command None = rejected)
    spoken = Signal(str, object)  # (text, Path of the WAV) once a reply is synthesized
    listeningChanged = Signal(bool)

    def __init__(self, desk: JasonDesk, panel: ChatPanel | None = None) -> None:
        super().__init__(desk)
        self.desk = desk
        self.ctx = desk.ctx
        self._loop = asyncio.get_running_loop()
        self._ears = ThreadPoolExecutor(1, thread_name_prefix="jason-listen")
        self._mouth = ThreadPoolExecutor(1, thread_name_prefix="jason-speak")
        self._listener: Listener | None = None
        self._speaker: Speaker | None = None
        self._vocabulary: tuple[str, ...] | None = None
        self._wav_dir = tempfile.TemporaryDirectory(prefix="titan-jason-voice-")
        self._count = 0
        self._closed = False
        self.last_spoken_wav: Path | None = None
        self.voice_replies = tts_available()
        self.always_listening = False
        self._push_to_talk = False
        self._source: QAudioSource | None = None
        self._stream: Any = None
        self._format: QAudioFormat | None = None
        self._effect: Any = None
        self._playlist: deque[Path] = deque()
        self.microphone: QAudioDevice | None = None
        self.loudspeaker: QAudioDevice | None = None
        self._qtm: Any = None
        # TITAN_NO_AUDIO=1: no audio devices at all (headless runs, tests): QtMultimedia's
        # backend is never started, recognition and synthesis still work on samples and files.
        if os.environ.get("TITAN_NO_AUDIO") != "1":
            with _quiet_multimedia_probe():
                from PySide6 import QtMultimedia

                self._qtm = QtMultimedia
                devices = QtMultimedia.QMediaDevices
                self.microphone = _device(devices.defaultAudioInput())
                self.loudspeaker = _device(devices.defaultAudioOutput())
        desk.said.connect(self.say)
        desk.replied.connect(self._on_reply)
        self.ctx.events.tablesChanged.connect(self._on_tables)
        self.ctx.spawn(self.refresh_vocabulary())
        self.ctx.spawn(self._close_on_shutdown())
        self.panel = panel
        if panel is not None:
            self._bind(panel)

    # -- the chat panel's controls ------------------------------------------------------------

    def _bind(self, panel: ChatPanel) -> None:
        has_mic = self.microphone is not None
        for button in (panel.talk_button, panel.listen_button):
            button.setEnabled(has_mic)
            button.setToolTip(button.toolTip() if has_mic else NO_MICROPHONE)
        panel.talk_button.pressed.connect(lambda: self.push_to_talk(True))
        panel.talk_button.released.connect(lambda: self.push_to_talk(False))
        panel.listen_button.toggled.connect(self.set_always_listening)
        panel.voice_replies.setEnabled(tts_available())
        panel.voice_replies.setChecked(self.voice_replies)
        if not tts_available():
            panel.voice_replies.setToolTip(NO_TTS)
        panel.voice_replies.toggled.connect(self.set_voice_replies)

    def set_voice_replies(self, on: bool) -> None:
        self.voice_replies = bool(on)

    # -- listening ----------------------------------------------------------------------------

    def push_to_talk(self, held: bool) -> None:
        """Button down: listen; button up: the utterance is over, decode what is left."""
        self._push_to_talk = held
        if held:
            self._open_microphone()
        else:
            if not self.always_listening:
                self._close_microphone()
            self.flush()

    def set_always_listening(self, on: bool) -> None:
        self.always_listening = bool(on)
        if on:
            self._open_microphone()
        elif not self._push_to_talk:
            self._close_microphone()
            self.flush()

    @property
    def listening(self) -> bool:
        return self._source is not None

    def _open_microphone(self) -> None:
        if self._source is not None or self.microphone is None:
            return
        wanted = self._qtm.QAudioFormat()
        wanted.setSampleRate(RATE)
        wanted.setChannelCount(1)
        wanted.setSampleFormat(self._qtm.QAudioFormat.SampleFormat.Int16)
        if not self.microphone.isFormatSupported(wanted):
            # Keep Int16 (to_16k_mono reads integer PCM); take the device's rate and channels.
            preferred = self.microphone.preferredFormat()
            wanted.setSampleRate(preferred.sampleRate())
            wanted.setChannelCount(preferred.channelCount())
        self._format = wanted
        self._source = self._qtm.QAudioSource(self.microphone, wanted, self)
        self._source.setBufferSize(wanted.bytesForDuration(MICROPHONE_BUFFER_US))
        self._stream = self._source.start()
        self._stream.readyRead.connect(self._read_microphone)
        self.listeningChanged.emit(True)
        log.info("listening", device=self.microphone.description())

    def _close_microphone(self) -> None:
        if self._source is None:
            return
        self._read_microphone()
        self._source.stop()
        self._source.deleteLater()
        self._source = self._stream = None
        self.listeningChanged.emit(False)

    def _read_microphone(self) -> None:
        if self._stream is None or self._format is None:
            return
        raw = bytes(self._stream.readAll().data())
        if not raw or self._effect_playing():
            return  # nothing new, or Jason is talking: don't listen to himself
        fmt = self._format
        if fmt.sampleRate() == RATE and fmt.channelCount() == 1:
            samples = np.frombuffer(raw, np.int16)
        else:
            samples = to_16k_mono(raw, fmt.sampleRate(), 2, fmt.channelCount())
        self.feed_audio(samples)

    def feed_audio(self, samples: Int16) -> None:
        """16 kHz mono int16 audio, exactly as microphone chunks travel: to the Listener on the
        listening thread; recognized utterances come back to the UI thread."""
        chunk = np.asarray(samples, np.int16).copy()
        self._listen(lambda listener: listener.feed(chunk))

    def flush(self) -> None:
        """End of an utterance (push-to-talk released): decode speech still held back."""
        self._listen(lambda listener: listener.flush())

    def _listen(self, work: Callable[[Listener], list[Parse]]) -> None:
        if self._closed:
            return
        future = self._ears.submit(
            lambda: [] if self._closed else work(self._ensure_listener()))
        future.add_done_callback(self._back_on_ui_thread(self._on_heard))

    def _ensure_listener(self) -> Listener:  # listening thread
        if self._listener is None:
            self._listener = Listener(Recognizer(self._vocabulary or ()))
        return self._listener

    def _on_heard(self, future: Future[list[Parse]]) -> None:
        try:
            results = future.result()
        except Exception as exc:
            log.error("speech recognition failed", error=f"{type(exc).__name__}: {exc}")
            return
        for understood in results:
            self.heard.emit(understood)
            if understood.command is None:
                self._not_understood(understood)
            else:
                log.info("heard a command", command=understood.command, text=understood.text)
                self.desk.handle_voice(understood)

    def _not_understood(self, understood: Parse) -> None:
        log.info("rejected an utterance", text=understood.text)
        answer = DIDNT_CATCH
        if understood.suggestions:
            answer += " You can say: " + "; ".join(f"“{s}”" for s in understood.suggestions)
        self.desk.window.chat.post("Jason", answer)
        self.desk.said.emit(answer)

    def _on_reply(self, _reply: object) -> None:
        """While Jason waits for a read-back name, "call it <name>" is a correction."""
        brain = self.desk.brain
        read_back = brain.pending.slots.get("project") if brain.awaiting_name and brain.pending \
            else None

        def tell(listener: Listener) -> list[Parse]:
            listener.recognizer.expect_name(read_back)
            return []

        self._listen(tell)

    # -- vocabulary ---------------------------------------------------------------------------

    def _on_tables(self, tables: set[str] | None) -> None:  # AppContext.tablesChanged
        if "projects" in (tables or ()):
            self.ctx.spawn(self.refresh_vocabulary())

    async def refresh_vocabulary(self) -> None:
        """Teach the decoders the current project names (only when they changed)."""
        names = tuple(await self.desk.brain.project_names())
        templates = tuple(self.desk.brain.template_names())
        if names == self._vocabulary or self._closed:
            return
        self._vocabulary = names

        def update() -> None:  # listening thread: after the chunks already queued
            if self._listener is None:
                self._listener = Listener(Recognizer(names, templates))
            else:
                self._listener.recognizer.set_vocabulary(names, templates)

        await asyncio.wrap_future(self._ears.submit(update))

    # -- speaking -----------------------------------------------------------------------------

    def say(self, text: str) -> None:
        """Speak ``text`` (connected to ``JasonDesk.said``) when voice replies are on."""
        if not self.voice_replies or self._closed or not text.strip():
            return
        self._count += 1
        path = Path(self._wav_dir.name) / f"reply-{self._count:04d}.wav"
        future = self._mouth.submit(self._synthesize, text, path)
        future.add_done_callback(self._back_on_ui_thread(
            lambda done: self._on_synthesized(text, done)))

    def _synthesize(self, text: str, path: Path) -> Path:  # speaking thread
        if self._speaker is None:
            settings = self.ctx.settings  # Settings → Jason's voice
            self._speaker = Speaker(voice=settings.jason_voice, rate=settings.jason_rate)
        return self._speaker.synthesize(text, path).result(timeout=120)

    def _on_synthesized(self, text: str, future: Future[Path]) -> None:
        try:
            path = future.result()
        except Exception as exc:
            log.error("speech synthesis failed", error=f"{type(exc).__name__}: {exc}")
            return
        self.last_spoken_wav = path
        self.spoken.emit(text, path)
        if self.loudspeaker is not None:
            self._playlist.append(path)
            self._play_next()

    def _play_next(self) -> None:
        if self._effect_playing() or not self._playlist or self.loudspeaker is None:
            return
        if self._effect is None:
            self._effect = self._qtm.QSoundEffect(self.loudspeaker, self)
            self._effect.playingChanged.connect(self._play_next)
        self._effect.setSource(QUrl.fromLocalFile(str(self._playlist.popleft())))
        self._effect.play()

    def _effect_playing(self) -> bool:
        return self._effect is not None and self._effect.isPlaying()

    # -- plumbing -----------------------------------------------------------------------------

    def _back_on_ui_thread(self, callback: Callable[[Any], None]) -> Callable[[Any], None]:
        """A Future callback (runs on a worker thread) that calls ``callback`` on the loop."""
        def done(future: Any) -> None:
            if self._closed:
                return
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(callback, future)
        return done

    async def _close_on_shutdown(self) -> None:
        """The window's shutdown cancels the context's tasks: that is when voice stops too."""
        try:
            await asyncio.Event().wait()
        finally:
            self.close()

    def close(self) -> None:
        """Stop listening and speaking; release the decoders and the temporary WAVs (on their
        own threads, after the work already queued there, so the UI never waits)."""
        if self._closed:
            return
        self._closed = True
        self._close_microphone()
        if self._effect is not None:
            # QSoundEffect plays on a thread of its own: a playing (or paused) effect still
            # alive when the application exits aborts the process ("QThread: Destroyed while
            # thread is still running").
            self._playlist.clear()
            self._effect.stop()
            self._effect.deleteLater()
            self._effect = None
        self._ears.submit(self._release_listener)
        self._mouth.submit(self._release_speaker)
        self._ears.shutdown(wait=False)
        self._mouth.shutdown(wait=False)

    def _release_listener(self) -> None:  # listening thread
        if self._listener is not None:
            self._listener.recognizer.close()
            self._listener = None

    def _release_speaker(self) -> None:  # speaking thread
        if self._speaker is not None:
            self._speaker.close()
            self._speaker = None
        self._wav_dir.cleanup()

def _device(device: QAudioDevice) -> QAudioDevice | None:
    return None if device.isNull() else device
