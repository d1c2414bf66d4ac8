"""The decoders' child processes: same answers as decoding in-process, the caller's thread is
free while they decode, and Jason keeps hearing when one dies (real espeak-ng audio, real
pocketsphinx). New names reaching the children are covered by test_recognizer's run-time
vocabulary test, which decodes through them."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from worker.jason import corpus
from worker.jason.recognizer import Recognizer

SENTENCES = (("pause the worker", 175), ("status of Moon Garden", 175),
             ("what time is it in Paris", 175), ("how are sales this week", 175),
             ("why did it fail", 210))  # the last one needs the second look


def test_child_processes_decode_like_in_process(recognizer: Recognizer, audio_cache: Path
                                                ) -> None:
    assert len(recognizer._children) == 4  # the session recognizer decodes in children
    local = Recognizer(corpus.PROJECTS, corpus.TEMPLATES, corpus.NEW_PROJECTS, parallel=False)
    try:
        for sentence, rate in SENTENCES:
            audio = corpus.spoken_audio(sentence, "en-us", rate, audio_cache)
            assert recognizer.decode(audio) == local.decode(audio), sentence
    finally:
        local.close()


def _main_thread_turns_while_decoding(rec: Recognizer, audio_cache: Path) -> int:
    """How often the calling (GUI-like) thread got to run Python while another thread decoded
    a long utterance four times."""
    # names no project and creates none: those also ask Whisper, which releases the lock
    audio = corpus.spoken_audio("how are sales this week", "en-us", 120, audio_cache)
    rec.decode(audio)  # warm up
    done = threading.Event()

    def decode() -> None:
        for _ in range(4):
            rec.decode(audio)
        done.set()

    worker = threading.Thread(target=decode)
    turns = 0
    worker.start()
    while not done.wait(0.001):  # a UI loop that wakes every millisecond
        turns += 1
    worker.join()
    return turns


def test_decoding_leaves_the_calling_process_free(recognizer: Recognizer, audio_cache: Path
                                                  ) -> None:
    """pocketsphinx never releases Python's lock: decoding on a thread of the GUI's process
    starves the GUI thread. With the decoders in children, the GUI thread keeps its turns
    (each wait is 1 ms, so a free thread turns hundreds of times during four decodes)."""
    local = Recognizer(corpus.PROJECTS, corpus.TEMPLATES, corpus.NEW_PROJECTS, parallel=False)
    try:
        starved = _main_thread_turns_while_decoding(local, audio_cache)
    finally:
        local.close()
    free = _main_thread_turns_while_decoding(recognizer, audio_cache)
    assert free > 5 * max(starved, 10), (free, starved)


@pytest.mark.parametrize("which", [0, 1, 2, 3],
                         ids=["grammar", "lm", "phone-loop", "second-look"])
def test_jason_keeps_hearing_when_a_child_process_dies(which: int, audio_cache: Path) -> None:
    rec = Recognizer(["Moon Garden"], corpus.TEMPLATES)
    try:
        child = rec._children[which]
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child._process.join(10)
        # a command that needs all four decoders (the main pass rejects it at this rate)
        heard = rec.decode(corpus.spoken_audio("why did it fail", "en-us", 210, audio_cache))
        assert heard.command == "last_error"  # decoded in-process from now on
        assert rec._children == []
    finally:
        rec.close()


def test_a_decode_overtaken_before_it_started_is_skipped(recognizer: Recognizer,
                                                          audio_cache: Path) -> None:
    """The speaker went on after a pause: the decode begun at the pause is overtaken by the
    whole utterance's. Children still busy when both arrive skip the stale one, so the answer
    the listener waits for is not queued behind it; asked for anyway, it is decoded here."""
    long = corpus.spoken_audio("what is happening with Moon Garden", "en-us", 120, audio_cache)
    part = corpus.spoken_audio("pause the", "en-us", 175, audio_cache)
    whole = corpus.spoken_audio("pause the worker", "en-us", 175, audio_cache)
    recognizer.decode(part)  # the children have loaded their decoders
    recognizer.begin(long)  # keeps the children decoding while the next two arrive
    time.sleep(0.2)  # (they have begun it: the long one is not what this test is about)
    stale = recognizer.begin(part)
    latest = recognizer.begin(whole)
    recognizer._read_answer()
    assert recognizer._read_answer() is None  # every child skipped the stale decode
    latest_words = recognizer._read_answer()
    assert latest_words is not None and latest_words[0] == ["pause", "the", "worker"]
    assert recognizer.result(stale).command is None  # "pause the": decoded here, rejected
    assert recognizer.result(latest).command == "pause_worker"
