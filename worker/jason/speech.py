"""Jason's voice: text -> WAV file with pyttsx3 (espeak-ng on Linux) on a dedicated thread.

Nothing here plays audio: the desktop plays the WAV with QtMultimedia, so nothing blocks.

pyttsx3 2.99's espeak driver has faults this module works around (tests/jason/test_speech.py
has one test per fault):

* ``stop()`` calls ``espeak_Cancel()``, which restores the previous utterance's parameters, and
  ``runAndWait`` itself calls ``stop()`` after any ``setProperty``: a rate or voice change was
  silently lost (verified: rate 260 in a new voice came out at the old rate). Voice, then rate,
  then volume are applied inside the driver's ``_start_synthesis``, just before ``espeak_Synth``.
* only the last utterance queued before ``runAndWait`` is synthesized (the driver keeps one
  ``_text_to_say``): exactly one ``save_to_file`` per ``runAndWait``.
* an empty ``runAndWait`` synthesizes the previous text again (``_text_to_say`` is never
  cleared): we clear it after each utterance and never run an empty loop.
* ``say()`` shells out to ``aplay`` and fails silently without it: we never use ``say()``.
* the driver prints "Audio saved to ..." on stdout (which would corrupt CLI output): silenced.

If pyttsx3 cannot start (no libespeak-ng), the ``espeak-ng`` command line is used instead.
"""

from __future__ import annotations

import logging
import queue
import shutil
import subprocess
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("titan.jason.speech")

DEFAULT_RATE = 175


@dataclass(frozen=True)
class Voice:
    id: str
    name: str
    languages: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Job:
    text: str
    path: Path
    voice: str | None
    rate: int
    volume: float
    done: Future[Any]
    call: Any = None  # instead of synthesizing: run this on the TTS thread


class Speaker:
    """Synthesizes one utterance at a time on its own thread; every call returns a Future.

    ``Speaker(voice=None, rate=175)``; ``synthesize(text, path) -> Future[Path]``;
    ``voices()``; ``close()``. ``backend`` is "pyttsx3", "espeak-ng" or "auto".
    """

    def __init__(self, voice: str | None = None, rate: int = DEFAULT_RATE, volume: float = 1.0,
                 backend: str = "auto") -> None:
        self.voice, self.rate, self.volume = voice, rate, volume
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._ready: Future[str] = Future()
        self._engine: Any = None
        self._default_voice = "gmw/en-us"
        self._settings: tuple[str, int, float] = (self._default_voice, rate, volume)
        self._thread = threading.Thread(target=self._run, args=(backend,), name="jason-tts",
                                        daemon=True)
        self._thread.start()
        self.backend = self._ready.result(timeout=30)

    # --- public API (any thread) -----------------------------------------------------------

    def synthesize(self, text: str, path: str | Path, voice: str | None = None,
                   rate: int | None = None) -> Future[Path]:
        """Queue ``text`` for synthesis into the WAV file ``path``; the Future gives the path."""
        if not text.strip():
            raise ValueError("nothing to say")
        done: Future[Path] = Future()
        self._jobs.put(_Job(text, Path(path), voice or self.voice,
                            rate if rate is not None else self.rate, self.volume, done))
        return done

    def voices(self) -> list[Voice]:
        if self.backend == "pyttsx3":
            return [Voice(v.id, v.name, tuple(v.languages or ())) for v in
                    self._call(lambda: self._engine.getProperty("voices"))]
        out = subprocess.run([_espeak_exe(), "--voices"], capture_output=True, text=True,
                             check=True).stdout.splitlines()[1:]
        return [Voice(cols[4], cols[3], (cols[1],)) for cols in (line.split() for line in out)
                if len(cols) >= 5]

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=30)

    def __enter__(self) -> Speaker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- worker thread -----------------------------------------------------------------------

    def _call(self, fn: Any) -> Any:
        """Run ``fn`` on the TTS thread (espeak is not thread-safe) and wait for it."""
        result: Future[Any] = Future()
        self._jobs.put(_Job("", Path(), None, 0, 0.0, result, call=fn))
        return result.result(timeout=30)

    def _run(self, backend: str) -> None:
        try:
            self._engine = _start_pyttsx3() if backend in ("auto", "pyttsx3") else None
        except Exception:  # no libespeak-ng: the command line still works
            if backend == "pyttsx3":
                raise
            self._engine = None
        if self._engine is not None:
            self._default_voice = self._engine.getProperty("voice")
            driver = self._engine.proxy._driver
            driver._start_synthesis = self._apply_settings_then(driver._start_synthesis)
        self._ready.set_result("pyttsx3" if self._engine is not None else "espeak-ng")
        while (job := self._jobs.get()) is not None:
            try:
                if job.call is not None:
                    job.done.set_result(job.call())
                elif self._engine is not None:
                    job.done.set_result(self._speak_pyttsx3_or_cli(job))
                else:
                    job.done.set_result(_speak_cli(job))
            except Exception as exc:
                job.done.set_exception(exc)

    def _speak_pyttsx3_or_cli(self, job: _Job) -> Path:
        try:
            return self._speak_pyttsx3(job)
        except RuntimeError:
            # Under load pyttsx3's espeak driver sometimes finishes an utterance with its save
            # file already cleared and hands it to `aplay` instead: the same voice through
            # espeak-ng's command line still gives the person their answer.
            log.warning("pyttsx3 produced no audio; speaking through espeak-ng's command line")
            return _speak_cli(job)

    def _speak_pyttsx3(self, job: _Job) -> Path:
        job.path.parent.mkdir(parents=True, exist_ok=True)
        self._settings = (job.voice or self._default_voice, job.rate, job.volume)
        self._engine.save_to_file(job.text, str(job.path))  # exactly one per runAndWait
        self._engine.runAndWait()
        driver = self._engine.proxy._driver
        driver._text_to_say = None  # or the next runAndWait synthesizes it again
        driver._save_file = None
        if not job.path.exists() or job.path.stat().st_size <= 44:
            raise RuntimeError(f"pyttsx3 produced no audio for {job.text!r}")
        return job.path

    def _apply_settings_then(self, start: Any) -> Any:
        """Wrap the driver's ``_start_synthesis`` so voice, rate and volume are set at the last
        moment: runAndWait's own ``stop()`` -> ``espeak_Cancel()`` runs *after* any
        setProperty and restores the previous utterance's parameters."""
        def start_synthesis(text: str) -> None:
            voice, rate, volume = self._settings
            driver = self._engine.proxy._driver
            driver.setProperty("voice", voice)  # first: a voice change resets the rate
            driver.setProperty("rate", rate)
            driver.setProperty("volume", volume)
            start(text)
        return start_synthesis


def _start_pyttsx3() -> Any:
    import pyttsx3
    import pyttsx3.drivers.espeak as espeak_driver

    espeak_driver.print = lambda *a, **k: None  # silences its "Audio saved to" line
    # Not pyttsx3.init(): it hands every caller the same cached engine, so two Speakers (the
    # app's voice and a CLI call, or tests) would drive one engine from two threads.
    return pyttsx3.Engine("espeak")


def _espeak_exe() -> str:
    exe = shutil.which("espeak-ng") or shutil.which("espeak")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    return exe


def _speak_cli(job: _Job) -> Path:
    job.path.parent.mkdir(parents=True, exist_ok=True)
    voice = (job.voice or "en-us").split("/")[-1]  # pyttsx3 ids look like "gmw/en-us"
    amplitude = str(int(max(0.0, min(job.volume, 2.0)) * 100))
    subprocess.run([_espeak_exe(), "-v", voice, "-s", str(job.rate), "-a", amplitude,
                    "-w", str(job.path), job.text], check=True, capture_output=True, timeout=120)
    return job.path
