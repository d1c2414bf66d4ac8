"""Jason's voice: pyttsx3 on a worker thread, and one test per pyttsx3 2.99 fault worked around."""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.jason.audio import load_wav, rms_dbfs
from worker.jason.speech import Speaker


@pytest.fixture(scope="module")
def speaker() -> Iterator[Speaker]:
    with Speaker() as s:
        assert s.backend == "pyttsx3"  # a real dependency: espeak-ng through pyttsx3
        yield s


def _seconds(path: Path) -> float:
    with wave.open(str(path)) as f:
        return f.getnframes() / f.getframerate()


def test_say_produces_audible_audio_that_grows_with_the_text(speaker: Speaker,
                                                             tmp_path: Path) -> None:
    short = speaker.synthesize("Done.", tmp_path / "short.wav").result(60)
    long = speaker.synthesize("Moon Garden was published, and two projects await a decision.",
                              tmp_path / "long.wav").result(60)
    assert rms_dbfs(load_wav(long)) > -35  # silence would be below -60
    assert _seconds(long) > 2.5 * _seconds(short)


def test_rate_changes_apply_and_do_not_revert_after_stop(speaker: Speaker, tmp_path: Path) -> None:
    # Fault: stop() calls espeak_Cancel(), which restored the previous utterance's rate.
    text = "the worker has been paused"
    slow = speaker.synthesize(text, tmp_path / "slow.wav", rate=100).result(60)
    speaker._call(lambda: speaker._engine.stop())
    fast = speaker.synthesize(text, tmp_path / "fast.wav", rate=260,
                              voice="gmw/en-gb-scotland").result(60)
    slow_again = speaker.synthesize(text, tmp_path / "slow2.wav", rate=100).result(60)
    assert _seconds(slow) > 1.8 * _seconds(fast)
    assert abs(_seconds(slow_again) - _seconds(slow)) < 0.15 * _seconds(slow)


def test_voice_choice_is_honoured(speaker: Speaker, tmp_path: Path) -> None:
    ids = {v.id for v in speaker.voices()}
    assert {"gmw/en-us", "gmw/en"} & ids
    a = speaker.synthesize("hello", tmp_path / "a.wav", voice="gmw/en-us").result(60)
    b = speaker.synthesize("hello", tmp_path / "b.wav", voice="gmw/en-gb-scotland").result(60)
    assert a.read_bytes() != b.read_bytes()
    again = speaker.synthesize("hello", tmp_path / "c.wav", voice="gmw/en-us").result(60)
    assert abs(_seconds(again) - _seconds(a)) < 0.05  # back to the same voice: nothing drifted


def test_every_queued_utterance_is_synthesized(speaker: Speaker, tmp_path: Path) -> None:
    # Fault: only the last utterance queued before runAndWait was synthesized.
    futures = [speaker.synthesize(f"message number {n}", tmp_path / f"q{n}.wav") for n in range(4)]
    paths = [f.result(60) for f in futures]
    assert all(p.exists() and _seconds(p) > 0.5 for p in paths)


def test_nothing_is_repeated_after_an_utterance(speaker: Speaker, tmp_path: Path) -> None:
    # Fault: the driver keeps the last text, so an empty runAndWait synthesized it again (into
    # the previous file). The Speaker never runs an empty loop and forgets each text when done.
    first = speaker.synthesize("first answer", tmp_path / "first.wav").result(60)
    first.unlink()
    second = speaker.synthesize("second answer", tmp_path / "second.wav").result(60)
    assert not first.exists() and second.exists()
    assert speaker._call(lambda: speaker._engine.proxy._driver._text_to_say) is None


def test_works_without_aplay_and_keeps_stdout_clean(tmp_path: Path, monkeypatch,
                                                    capfd: pytest.CaptureFixture[str]) -> None:
    # Fault: say() shells out to aplay and fails silently without it; we never use say().
    monkeypatch.setenv("PATH", str(tmp_path))  # no aplay, no anything
    with Speaker() as s:
        out = s.synthesize("no player needed", tmp_path / "x.wav").result(60)
    assert rms_dbfs(load_wav(out)) > -35
    assert "Audio saved" not in capfd.readouterr().out


def test_command_line_fallback_synthesizes_too(tmp_path: Path) -> None:
    with Speaker(backend="espeak-ng", rate=150) as s:
        out = s.synthesize("fallback voice", tmp_path / "cli.wav").result(60)
    assert rms_dbfs(load_wav(out)) > -35 and _seconds(out) > 0.5


def test_empty_text_is_refused(speaker: Speaker, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        speaker.synthesize("  ", tmp_path / "empty.wav")


def test_a_reply_is_spoken_even_when_pyttsx3_loses_its_file(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Under load pyttsx3's driver has finished utterances with its save file cleared (it then
    calls `aplay`, and the app logged "speech synthesis failed"). Injected here by clearing the
    file name right before synthesis starts; the reply must still be audible."""
    with Speaker() as s:
        driver = s._engine.proxy._driver
        start = driver._start_synthesis

        def start_without_file(text: str) -> None:
            driver._save_file = None
            start(text)

        driver._start_synthesis = start_without_file
        path = s.synthesize("Cancel Moon Garden?", tmp_path / "reply.wav").result(60)
    assert rms_dbfs(load_wav(path)) > -35
    assert _seconds(path) > 0.5
    assert "espeak-ng's command line" in caplog.text
