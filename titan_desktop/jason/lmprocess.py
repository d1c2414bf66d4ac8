"""Jason's LM decoder in a child process, so that it decodes while the grammar decoder does.

pocketsphinx keeps Python's lock while it decodes, so a thread would not run beside the grammar
decoder; a process does, and an utterance costs the slower of the two decodes, not their sum.
The child is spawned once per ``Recognizer`` and told everything the in-process LM decoder is
told (new words, a new language model), in order, over one pipe.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from multiprocessing.connection import Connection
from typing import Any

Words = list[str]


class LMProcess:
    """A pocketsphinx LM decoder in a spawned child: ``decode`` is split into ``begin`` (send
    the audio, return at once) and ``result`` (the decoded words), with work in between."""

    def __init__(self, config: dict[str, Any]) -> None:
        ctx = multiprocessing.get_context("spawn")  # fork would copy Qt's and the GUI's threads
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(child, config), daemon=True,
                                    name="titan-jason-lm")
        self._process.start()
        child.close()

    def add_words(self, words: list[tuple[str, str]]) -> None:
        self._conn.send(("words", words))

    def set_lm(self, lm_path: str) -> None:
        self._conn.send(("lm", lm_path))

    def begin(self, raw: bytes) -> None:
        self._conn.send(("decode", raw))

    def result(self, timeout: float = 30.0) -> Words:
        if not self._conn.poll(timeout):
            raise TimeoutError("the LM decoder process did not answer")
        answer = self._conn.recv()
        if isinstance(answer, BaseException):
            raise answer
        return list(answer)

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._conn.send(None)
            self._conn.close()
        self._process.join(2)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(2)


def _serve(conn: Connection, config: dict[str, Any]) -> None:  # the child process
    import pocketsphinx

    from titan_desktop.jason.recognizer import hypothesis_words

    pocketsphinx.set_loglevel("FATAL")
    decoder = pocketsphinx.Decoder(**config)
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        kind, value = message
        try:
            if kind == "words":
                for word, phones in value:
                    decoder.add_word(word, phones, True)
            elif kind == "lm":
                decoder.add_lm_file("commands", value)
                decoder.activate_search("commands")
            elif kind == "decode":
                decoder.start_utt()
                decoder.process_raw(value, False, True)
                decoder.end_utt()
                conn.send(hypothesis_words(decoder.hyp()))
        except Exception as exc:  # report it with the next answer rather than die silently
            if kind == "decode":
                conn.send(RuntimeError(f"LM decoder: {type(exc).__name__}: {exc}"))
