"""The WAV loader: any rate, width and channel count comes out as 16 kHz mono int16."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from worker.jason.audio import RATE, UtteranceSegmenter, add_noise, load_wav, rms_dbfs


def _write(path: Path, rate: int, width: int, channels: int, seconds: float = 0.5) -> None:
    t = np.arange(int(rate * seconds)) / rate
    x = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    data = np.repeat(x[:, None], channels, axis=1).reshape(-1)
    if width == 1:
        raw = np.round(data * 127 + 128).astype(np.uint8).tobytes()
    elif width == 3:
        i32 = np.round(data * (2 ** 23 - 1)).astype(np.int32)
        raw = b"".join(int(v).to_bytes(3, "little", signed=True) for v in i32)
    else:
        dtype = {2: np.int16, 4: np.int32}[width]
        raw = np.round(data * (2 ** (8 * width - 1) - 1)).astype(dtype).tobytes()
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(raw)


@pytest.mark.parametrize(("rate", "width", "channels"), [
    (8000, 1, 1), (8000, 2, 1), (16000, 2, 1), (22050, 2, 2), (44100, 2, 2), (44100, 3, 1),
    (48000, 4, 2), (44100, 1, 2),
])
def test_any_wav_becomes_16k_mono_int16(tmp_path: Path, rate: int, width: int,
                                        channels: int) -> None:
    path = tmp_path / "tone.wav"
    _write(path, rate, width, channels)
    audio = load_wav(path)
    assert audio.dtype == np.int16
    assert abs(len(audio) - RATE // 2) <= 2  # still half a second
    spectrum = np.abs(np.fft.rfft(audio.astype(np.float64)))
    assert abs(np.argmax(spectrum) * RATE / len(audio) - 440.0) < 5  # same pitch
    assert abs(rms_dbfs(audio) - 20 * np.log10(0.5 / np.sqrt(2))) < 1.0  # same loudness


def test_noise_is_faint() -> None:
    noisy = add_noise(np.zeros(RATE, np.int16), -60.0)
    assert -62 < rms_dbfs(noisy) < -58


def test_segmenter_finds_utterances_between_silences() -> None:
    t = np.arange(RATE) / RATE
    tone = (8000 * np.sin(2 * np.pi * 300 * t) * (1 + np.sin(2 * np.pi * 4 * t))).astype(np.int16)
    quiet = np.zeros(RATE, np.int16)
    stream = add_noise(np.concatenate([quiet, tone, quiet, tone, quiet]), -60.0)
    seg = UtteranceSegmenter()
    utterances = []
    for i in range(0, len(stream), 333):  # odd chunk sizes, like a sound card delivers
        utterances += seg.feed(stream[i:i + 333])
    utterances += seg.flush()
    assert len(utterances) == 2
    assert all(0.8 * RATE < len(u) < 1.8 * RATE for u in utterances)
