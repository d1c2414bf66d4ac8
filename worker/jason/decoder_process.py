"""Jason's decoders in child processes, so that decoding never holds the GUI's Python lock.

pocketsphinx keeps Python's lock for the whole of a decode (its bindings never release it), so a
decode on a worker thread still froze the UI thread for 50-150 ms per utterance. In a child
process it does not; and the grammar and LM decoders, each in its own child, decode at once, so
an utterance costs the slower of the two, not their sum. Each child is spawned once per
``Recognizer`` and told everything its in-process twin is told (new words, a new grammar or
language model), in order, over one pipe.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

Words = list[str]
TIMED = "_timed"  # a config key the child takes out: answer (phone, start, end) triples
WHISPER = "_whisper"  # a config of this key alone: the child hears names with Whisper


class DecoderProcess:
    """A pocketsphinx decoder in a spawned child: ``decode`` is split into ``begin`` (send the
    audio, return at once) and ``result`` (the decoded words), with other work in between."""

    def __init__(self, config: dict[str, Any], name: str) -> None:
        ctx = multiprocessing.get_context("spawn")  # fork would copy Qt's and the GUI's threads
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(child, config), daemon=True,
                                    name=f"titan-jason-{name}")
        self._process.start()
        child.close()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def add_words(self, words: list[tuple[str, str]]) -> None:
        self._conn.send(("words", words))

    def set_jsgf(self, grammar: str) -> None:
        self._conn.send(("jsgf", grammar))

    def set_lm(self, lm_path: str) -> None:
        self._conn.send(("lm", lm_path))

    def begin(self, raw: bytes) -> None:
        self._conn.send(("decode", raw))

    def open_stream(self, raw: bytes) -> None:
        """The phone loop's child: start hearing an utterance while it is being spoken."""
        self._conn.send(("open", raw))

    def stream(self, raw: bytes) -> None:
        """The phone loop's child: more of the utterance being spoken."""
        self._conn.send(("more", raw))

    def ask_phones(self) -> None:
        """The phone loop's child: answer the phones of the streamed utterance so far."""
        self._conn.send(("phones", None))

    def close_stream(self) -> None:
        self._conn.send(("close", None))

    def begin_transcript(self, raw: bytes) -> None:
        """Whisper's child: transcribe the whole utterance."""
        self._conn.send(("transcribe", raw))

    def begin_name(self, raw: bytes, before: list[str], after: list[str]) -> None:
        """Whisper's child: hear the name between the grammar's words ``before`` and ``after``."""
        self._conn.send(("decode", (raw, before, after)))

    def ready(self) -> bool:
        """An answer is waiting (``result`` will not block)."""
        try:
            return self._conn.poll(0)
        except (OSError, ValueError):
            return True  # gone: ``result`` raises, and the caller falls back

    def result(self, timeout: float = 30.0) -> Any:
        """The next answer; None for a decode the child skipped because a newer one was
        already waiting (see ``_messages``)."""
        if not self._conn.poll(timeout):
            raise TimeoutError("a decoder process did not answer")
        answer = self._conn.recv()
        if isinstance(answer, BaseException):
            raise answer
        return None if answer is None else list(answer)

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._conn.send(None)
            self._conn.close()
        self._process.join(2)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(2)


def _messages(conn: Connection, *, drop_stale: bool = False) -> Iterator[tuple[str, Any]]:
    """The parent's messages, until it says None or goes away. ``drop_stale``: a decode with
    another decode already waiting behind it comes as ("stale", None): the parent has given
    up on it (the speaker went on after a pause), and decoding it would only delay the one
    it waits for."""
    waiting: list[Any] = []  # a message read ahead
    while True:
        try:
            message = waiting.pop() if waiting else conn.recv()
        except EOFError:
            return
        if message is None:
            return
        if drop_stale and message[0] == "decode" and conn.poll(0):
            try:
                waiting.append(conn.recv())
            except EOFError:
                pass
            if waiting and waiting[0] is not None and waiting[0][0] == "decode":
                yield "stale", None
                continue
        yield message


def _serve(conn: Connection, config: dict[str, Any]) -> None:  # the child process
    if config.get(WHISPER):
        _serve_names(conn)
        return
    import pocketsphinx

    from worker.jason.recognizer import hypothesis_words, timed_phones

    pocketsphinx.set_loglevel("FATAL")
    config = dict(config)
    # The phone loop answers with its phones' frames too (where a word's sounds are).
    timed = bool(config.pop(TIMED, False))
    decoder = pocketsphinx.Decoder(**config)
    streaming = False  # an utterance is open for ``open`` / ``more`` (the phone loop only)
    for kind, value in _messages(conn, drop_stale=True):
        try:
            if kind == "stale":
                conn.send(None)  # one answer per decode asked, so answers keep their order
            elif kind == "words":
                for word, phones in value:
                    decoder.add_word(word, phones, True)
            elif kind == "jsgf":
                decoder.add_jsgf_string("commands", value)
                decoder.activate_search("commands")
            elif kind == "lm":
                decoder.add_lm_file("commands", value)
                decoder.activate_search("commands")
            elif kind == "decode":
                if streaming:
                    decoder.end_utt()
                    streaming = False
                decoder.start_utt()
                decoder.process_raw(value, False, True)
                decoder.end_utt()
                conn.send(timed_phones(decoder) if timed else hypothesis_words(decoder.hyp()))
            elif kind == "open":  # the phone loop hears an utterance as it is spoken
                if streaming:
                    decoder.end_utt()
                decoder.start_utt()
                decoder.process_raw(value, False, False)
                streaming = True
            elif kind == "more" and streaming:
                decoder.process_raw(value, False, False)
            elif kind == "phones":  # so far, without ending the utterance (None: no stream)
                conn.send(timed_phones(decoder) if streaming else None)
            elif kind == "close" and streaming:
                decoder.end_utt()
                streaming = False
        except Exception as exc:  # report it with the next answer rather than die silently
            if kind in ("decode", "phones"):
                conn.send(RuntimeError(f"decoder process: {type(exc).__name__}: {exc}"))


def _serve_names(conn: Connection) -> None:  # the child process for Whisper
    import numpy as np

    from worker.jason.names import name_words
    from worker.jason.whisper_names import WhisperNames

    hearing = WhisperNames(frozenset(name_words()))
    for kind, value in _messages(conn):
        try:
            if kind == "transcribe":
                conn.send(hearing.transcript(np.frombuffer(value, np.int16)))
                continue
            raw, before, after = value
            guesses = hearing.guesses(np.frombuffer(raw, np.int16), before, after)
            conn.send([(g.name, g.common) for g in guesses])
        except Exception as exc:  # report it with the answer rather than die silently
            conn.send(RuntimeError(f"names process: {type(exc).__name__}: {exc}"))
