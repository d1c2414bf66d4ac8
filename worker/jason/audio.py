"""Audio plumbing without Qt: WAV loading/conversion to 16 kHz mono int16, and an endpointer.

The decoder wants 16 kHz mono signed 16-bit samples; WAV files from users or TTS come in any
rate, width and channel count, so everything goes through ``to_16k_mono``.
"""

from __future__ import annotations

import io
import math
import wave
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pocketsphinx import Vad

RATE = 16000
# Non-speech that ends an utterance: a pause mid-command shorter than this does not split it
# ("cancel ... Moon Garden"). A whole command that cannot go on is answered sooner (the
# Listener's EARLY_END), so this wait is only paid by commands that may continue ("status" ->
# "status of Moon Garden") and by what is not a command.
ENDPOINT_WINDOW = 0.3
# A frame the detector calls speech counts as speech only within this many dB of the loudest
# speech frame of the utterance: the detector kept calling the fading end of a word speech for
# ~160 ms more (with a 0.2 s window, end of speech -> endpoint p50 371 -> 216 ms on the 549
# synthesized commands, none split). The audio kept is the same: every frame up to the end.
SPEECH_RANGE_DB = 35.0
Int16 = npt.NDArray[np.int16]


def _samples(raw: bytes, width: int) -> npt.NDArray[np.float64]:
    """PCM bytes -> floats in [-1, 1). 8-bit WAV is unsigned; 16/24/32-bit are signed."""
    if width == 1:
        return (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) / 128.0
    if width == 3:  # no numpy int24: widen each sample to int32 (little-endian, top byte sign)
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        i32 = (b[:, 0].astype(np.int32) | (b[:, 1].astype(np.int32) << 8)
               | (b[:, 2].astype(np.int8).astype(np.int32) << 16))
        return i32 / float(1 << 23)
    dtype = {2: np.int16, 4: np.int32}[width]
    return np.frombuffer(raw, dtype).astype(np.float64) / float(1 << (8 * width - 1))


def resample(x: npt.NDArray[np.float64], src: int, dst: int) -> npt.NDArray[np.float64]:
    """Band-limited resampling through the FFT (no aliasing when going 44.1 kHz -> 16 kHz)."""
    if src == dst or len(x) == 0:
        return x
    n_out = max(1, round(len(x) * dst / src))
    spec = np.fft.rfft(x)
    keep = n_out // 2 + 1
    spec = spec[:keep] if len(spec) >= keep else np.pad(spec, (0, keep - len(spec)))
    return np.fft.irfft(spec, n_out) * (n_out / len(x))


def to_16k_mono(raw: bytes, rate: int, width: int, channels: int) -> Int16:
    x = _samples(raw, width)
    if channels > 1:
        x = x[: len(x) // channels * channels].reshape(-1, channels).mean(axis=1)
    y = resample(x, rate, RATE)
    return np.clip(np.round(y * 32768.0), -32768, 32767).astype(np.int16)


def load_wav(source: str | Path | bytes) -> Int16:
    """Read a WAV file (path or bytes) of any PCM rate/width/channels as 16 kHz mono int16."""
    with wave.open(io.BytesIO(source) if isinstance(source, bytes) else str(source), "rb") as f:
        raw = f.readframes(f.getnframes())
        return to_16k_mono(raw, f.getframerate(), f.getsampwidth(), f.getnchannels())


def save_wav(path: str | Path, audio: Int16, rate: int = RATE) -> None:
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(np.asarray(audio, np.int16).tobytes())


def add_noise(audio: Int16, dbfs: float = -60.0, seed: int = 0) -> Int16:
    """Add faint white noise: TTS output has digitally silent gaps that confuse the decoder."""
    rms = 32768.0 * 10 ** (dbfs / 20.0)
    noise = np.random.default_rng(seed).normal(0.0, rms, len(audio))
    return np.clip(audio.astype(np.float64) + noise, -32768, 32767).astype(np.int16)


def rms_dbfs(audio: Int16) -> float:
    if len(audio) == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    return 20.0 * np.log10(max(rms, 1e-3) / 32768.0)


def quiet_edges(samples: Int16, threshold_dbfs: float = -50.0) -> tuple[float, float]:
    """Seconds of quiet (10 ms frames under ``threshold_dbfs``) at the start and the end."""
    n = len(samples) // 160
    if n == 0:
        return 0.0, 0.0
    frames = samples[: n * 160].astype(np.float64).reshape(n, 160)
    loud = np.sqrt((frames ** 2).mean(axis=1)) > 32768.0 * 10 ** (threshold_dbfs / 20)
    if not loud.any():
        return n / 100, n / 100
    return float(np.argmax(loud)) / 100, float(np.argmax(loud[::-1])) / 100


class UtteranceSegmenter:
    """Streaming endpointer: feed 16 kHz int16 audio in any chunk size, get whole utterances.

    The rule of pocketsphinx's ``Endpointer``, on its voice activity detector: speech starts
    when ``ratio`` of the last ``window`` seconds of 30 ms frames are speech (those frames open
    the utterance) and ends when ``ratio`` of them are not. Kept here rather than in the C
    endpointer because the words must be available before the end is declared: after
    ``pause_frames`` frames of non-speech, ``events`` reports a *pause* with the utterance so
    far, which the listener decodes while the endpointer is still waiting to be sure. A frame
    far quieter than the utterance's loudest (``speech_range_db``) is not speech, whatever the
    detector says.
    """

    def __init__(self, window: float = ENDPOINT_WINDOW, ratio: float = 0.9,
                 vad_mode: int = 1, pause_frames: int = 2,
                 speech_range_db: float = SPEECH_RANGE_DB) -> None:
        self.vad = Vad(mode=vad_mode, sample_rate=RATE)
        self.frame_bytes = int(self.vad.frame_bytes)
        self._window = max(1, round(window / self.vad.frame_length))
        self._needed = ratio * self._window
        self._pause_frames = pause_frames
        # (frame, counted as speech, its level in dBFS if the detector called it speech)
        self._recent: deque[tuple[bytes, bool, float]] = deque(maxlen=self._window)
        self._range_db = speech_range_db
        self._peak_db = -math.inf  # level of the open utterance's loudest speech frame
        self._pending = b""
        self._speech: list[bytes] = []  # the open utterance's frames
        self._quiet_run = 0  # non-speech frames since the last speech frame
        self.in_speech = False

    @property
    def open_samples(self) -> int:
        """Samples in the open utterance so far."""
        return len(self._speech) * self.frame_bytes // 2

    @property
    def open_frames(self) -> int:
        """Frames in the open utterance so far."""
        return len(self._speech)

    def frames_from(self, first: int) -> Int16:
        """The open utterance's audio from its frame ``first`` on."""
        return np.frombuffer(b"".join(self._speech[first:]), np.int16).copy()

    @property
    def frames_since_speech(self) -> int:
        """Non-speech frames at the end of the open utterance (0: it ends in speech)."""
        return self._quiet_run

    def events(self, data: bytes | Int16) -> Iterator[tuple[str, Int16]]:
        """Yield ("pause", utterance so far) once per pause inside an utterance, and ("end",
        utterance) when the endpointer closes it."""
        buf = self._pending + (data.tobytes() if isinstance(data, np.ndarray) else data)
        n = self.frame_bytes
        self._pending = buf[len(buf) - len(buf) % n:]
        for start in range(0, len(buf) - n + 1, n):
            yield from self._frame(buf[start:start + n])

    def _frame(self, frame: bytes) -> Iterator[tuple[str, Int16]]:
        detected = bool(self.vad.is_speech(frame))
        level = rms_dbfs(np.frombuffer(frame, np.int16)) if detected else -math.inf
        if not self.in_speech:  # before an utterance: the loudest speech of the last window
            self._peak_db = max([lv for _, _, lv in self._recent] + [level])
        else:
            self._peak_db = max(self._peak_db, level)
        is_speech = detected and level >= self._peak_db - self._range_db
        self._recent.append((frame, is_speech, level))
        speech_in_window = sum(s for _, s, _ in self._recent)
        if not self.in_speech:
            if len(self._recent) == self._window and speech_in_window >= self._needed:
                self.in_speech = True
                self._speech = [f for f, _, _ in self._recent]
                self._quiet_run = 0
            return
        self._speech.append(frame)
        self._quiet_run = 0 if is_speech else self._quiet_run + 1
        if self._window - speech_in_window >= self._needed:
            self.in_speech = False
            self._recent.clear()
            yield "end", self._take()
        elif self._quiet_run == self._pause_frames:
            yield "pause", self._audio()

    def feed(self, data: bytes | Int16) -> list[Int16]:
        """Process audio; return the utterances that ended inside it (usually none or one)."""
        return [audio for kind, audio in self.events(data) if kind == "end"]

    def cut(self) -> Int16:
        """Close the open utterance now (the listener knows it is over): its audio so far."""
        self.in_speech = False
        self._recent.clear()
        return self._take()

    def flush(self) -> list[Int16]:
        """End of stream: return the utterance still open, if any."""
        if self._pending and self.in_speech:
            self._speech.append(self._pending)
        self._pending = b""
        self._recent.clear()
        was_open, self.in_speech = self.in_speech and bool(self._speech), False
        return [self._take()] if was_open else []

    def _audio(self) -> Int16:
        return np.frombuffer(b"".join(self._speech), np.int16).copy()

    def _take(self) -> Int16:
        audio = self._audio()
        self._speech = []
        return audio


def frames(audio: Int16, seconds: float = 0.03) -> Iterator[Int16]:
    """Split audio into capture-sized chunks (what a microphone callback would deliver)."""
    step = int(RATE * seconds)
    for i in range(0, len(audio), step):
        yield audio[i:i + step]
