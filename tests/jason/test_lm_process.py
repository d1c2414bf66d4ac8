"""The LM decoder's child process: same answers as decoding in-process, and Jason keeps hearing
when it dies (real espeak-ng audio, real pocketsphinx). New names reaching the child are covered
by test_recognizer's run-time vocabulary test, which decodes through it."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from titan_desktop.jason import corpus
from titan_desktop.jason.recognizer import Recognizer

SENTENCES = ("pause the worker", "status of Moon Garden", "what time is it in Paris",
             "how are sales this week")


def test_child_process_decodes_like_in_process(recognizer: Recognizer, audio_cache: Path
                                               ) -> None:
    assert recognizer._lm_process is not None  # the session recognizer decodes in parallel
    local = Recognizer(corpus.PROJECTS, corpus.TEMPLATES, corpus.NEW_PROJECTS, parallel=False)
    try:
        for sentence in SENTENCES:
            audio = corpus.spoken_audio(sentence, "en-us", 175, audio_cache)
            assert recognizer.decode(audio) == local.decode(audio), sentence
    finally:
        local.close()


def test_jason_keeps_hearing_when_the_child_process_dies(audio_cache: Path) -> None:
    rec = Recognizer(["Moon Garden"], corpus.TEMPLATES)
    try:
        child = rec._lm_process
        assert child is not None
        os.kill(child._process.pid, signal.SIGKILL)
        child._process.join(10)
        heard = rec.decode(corpus.spoken_audio("pause the worker", "en-us", 175, audio_cache))
        assert heard.command == "pause_worker"  # decoded in-process from now on
        assert rec._lm_process is None
    finally:
        rec.close()
