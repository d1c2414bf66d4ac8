"""Offline speech recognition of Jason's commands with pocketsphinx.

Two decoders hear the same audio: one constrained by the command grammar (JSGF), one by a small
trigram language model built from the same phrases. A grammar decoder maps *any* speech onto
some command (about one in three ordinary sentences came out as a command); the LM decoder is
free to produce other word orders, so an utterance is accepted only when both agree: the same
words, or the same command and slots (they may differ in optional words like "the").

The LM decoder of the main pass runs in a child process (``lmprocess``) so both decode at once;
``parallel=False`` (one-shot CLI use, where spawning costs more than it saves) keeps it here.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence

import numpy as np
import pocketsphinx

from titan_desktop.jason import grammar
from titan_desktop.jason.audio import (
    ENDPOINT_WINDOW,
    RATE,
    Int16,
    UtteranceSegmenter,
    add_noise,
)
from titan_desktop.jason.commands import SPOKEN_PREFIX, SPOKEN_SUFFIX, slot_vocabulary
from titan_desktop.jason.lmprocess import LMProcess
from titan_desktop.jason.parser import Parse, parse, suggest
from titan_desktop.jason.pronounce import HMM_DIR, dictionary_lines, pronunciation_table
from worker.logs import get_logger

pocketsphinx.set_loglevel("FATAL")
log = get_logger("titan.jason.recognizer")
_IGNORED = {SPOKEN_PREFIX, SPOKEN_SUFFIX}
# topn: Gaussians scored per codebook (default 4 of 128); 16 cut misrecognitions of the voices
# furthest from the model's training speech (en-gb, a female voice) by a third. Wider beams
# (defaults 1e-48/1e-48/7e-29) stop pruning the right path of those voices early. Measured on
# the synthesized set: 89.6% -> 92.4% (topn) -> 94.5% (beams); CPU ~1.4x, then ~1.3x.
TUNED_OPTIONS: dict[str, object] = {"topn": 16, "beam": 1e-60, "pbeam": 1e-60, "wbeam": 1e-40}
# Front ends for a second look at a rejected utterance (same agreement rule), e.g. a VTLN-style
# warp {"warp_type": "inverse_linear", "warp_params": "1.1"}: measured, it recovered 7 more
# commands but also accepted a non-command ("how old is the universe" -> "how are we doing").
SECOND_LOOKS: tuple[dict[str, object], ...] = ()
# Extra pocketsphinx options (both decoders / the LM decoder only), for tuning experiments.
DECODER_OPTIONS: dict[str, object] = {}
LM_OPTIONS: dict[str, object] = {}
PAD_SECONDS = 0.3  # quiet wanted around an utterance


def hypothesis_words(hyp: pocketsphinx.Hypothesis | None) -> list[str]:
    """The words of a hypothesis, without fillers, silences and alternate-pronunciation marks."""
    if hyp is None:
        return []
    out = []
    for w in hyp.hypstr.split():
        w = re.sub(r"\(\d+\)$", "", w)
        if not (w.startswith(("<", "[")) or w in _IGNORED):
            out.append(w)
    return out


def _quiet_edges(samples: Int16, threshold_dbfs: float = -50.0) -> tuple[float, float]:
    """Seconds of quiet (10 ms frames under ``threshold_dbfs``) at the start and the end."""
    n = len(samples) // 160
    if n == 0:
        return 0.0, 0.0
    frames = samples[: n * 160].astype(np.float64).reshape(n, 160)
    loud = np.sqrt((frames ** 2).mean(axis=1)) > 32768.0 * 10 ** (threshold_dbfs / 20)
    if not loud.any():
        return n / 100, n / 100
    return float(np.argmax(loud)) / 100, float(np.argmax(loud[::-1])) / 100


def _same(a: Parse, b: Parse) -> bool:
    return a.command == b.command and a.slots == b.slots


class Recognizer:
    """Decode 16 kHz mono int16 audio into a ``Parse`` (``command=None`` when rejected).

    ``decode(audio)`` for a whole utterance (the accurate path: whole-utterance normalization).
    ``start()``/``feed(chunk)``/``finish()`` decode while the person is still speaking, so only
    end-of-utterance work remains at the end; it uses live normalization, which mishears the
    first utterance or two of a stream. Call ``set_vocabulary`` when projects change.
    """

    def __init__(self, projects: Sequence[str] = (), templates: Sequence[str] = (),
                 new_projects: Sequence[str] = (), *, parallel: bool = True) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="titan-jason-")
        self._known: set[str] = set()
        self._passes: list[list[pocketsphinx.Decoder]] = []  # [grammar, LM] per front end
        self._parallel = parallel
        self._lm_process: LMProcess | None = None
        self._lm_version = 0
        self.set_vocabulary(projects, templates, new_projects)

    @property
    def _decoders(self) -> list[pocketsphinx.Decoder]:
        """The first pass's [grammar, LM] decoders (the streaming path uses only these)."""
        return self._passes[0]

    def set_vocabulary(self, projects: Sequence[str] = (), templates: Sequence[str] = (),
                       new_projects: Sequence[str] = ()) -> None:
        self.projects, self.templates = tuple(projects), tuple(templates)
        self.new_projects = tuple(new_projects)
        vocab = slot_vocabulary(self.projects, self.templates, self.new_projects)
        words = grammar.words(vocab)
        if not self._passes:
            self._create(words)
        else:  # new project names: teach the existing decoders the new words
            new = [(word if i == 0 else f"{word}({i + 1})", phones)
                   for word, prons in sorted(pronunciation_table(words - self._known).items())
                   for i, phones in enumerate(prons)]
            for word, phones in new:
                for d in self._all_decoders():
                    d.add_word(word, phones, True)
            if self._lm_process is not None and new:
                self._lm_process.add_words(new)
            self._known |= words
        # A new file per vocabulary: the LM process reads it later, in its own time.
        self._lm_version += 1
        lm_path = os.path.join(self._tmp.name, f"commands-{self._lm_version}.lm")
        with open(lm_path, "w", encoding="utf-8") as f:
            f.write(grammar.arpa(vocab))
        jsgf = grammar.jsgf(vocab)
        for gram, lm in self._passes:
            gram.add_jsgf_string("commands", jsgf)
            gram.activate_search("commands")
            lm.add_lm_file("commands", lm_path)
            lm.activate_search("commands")
        if self._lm_process is not None:
            self._lm_process.set_lm(lm_path)

    def _all_decoders(self) -> list[pocketsphinx.Decoder]:
        return [d for pair in self._passes for d in pair]

    def _create(self, words: set[str]) -> None:
        dict_path = os.path.join(self._tmp.name, "jason.dict")
        with open(dict_path, "w", encoding="utf-8") as f:
            f.write("\n".join(dictionary_lines(words)) + "\n")
        # A small dictionary loads in milliseconds (all of CMUdict takes ~1 s per decoder).
        # bestpath=False on the grammar decoder: pocketsphinx 5's lattice rescoring of an FSG
        # search returns unfinished paths ("pause worker" came out as "what was the").
        common = {"hmm": HMM_DIR, "dict": dict_path, "lm": None, "samprate": RATE,
                  "loglevel": "FATAL", **TUNED_OPTIONS, **DECODER_OPTIONS}
        self._passes = [[pocketsphinx.Decoder(**common, **front, bestpath=False),
                         pocketsphinx.Decoder(**common, **front, **LM_OPTIONS)]
                        for front in ({}, *SECOND_LOOKS)]
        self._known = set(words)
        if self._parallel:
            self._lm_process = LMProcess({**common, **LM_OPTIONS})

    # --- decoding --------------------------------------------------------------------------

    def start(self) -> None:
        for d in self._decoders:
            d.start_utt()

    def feed(self, audio: bytes | Int16) -> None:
        raw = audio.tobytes() if isinstance(audio, np.ndarray) else audio
        for d in self._decoders:
            d.process_raw(raw, False, False)

    def finish(self) -> Parse:
        for d in self._decoders:
            d.end_utt()
        return self._verdict(self._decoders)

    def _verdict(self, pair: list[pocketsphinx.Decoder]) -> Parse:
        return self._judge(hypothesis_words(pair[0].hyp()), hypothesis_words(pair[1].hyp()))

    def _judge(self, said: list[str], free: list[str]) -> Parse:
        heard = " ".join(free or said)
        if said:
            result = self._parse(said)
            # Agreement: the same words, or words that differ only in optional parts ("restart
            # the worker" / "restart worker"), i.e. the same command with the same slots.
            if result.command and (said == free or _same(result, self._parse(free))):
                return result
        return Parse(None, {}, heard, suggest(heard, self.projects, self.templates))

    def _parse(self, words: list[str]) -> Parse:
        return parse(" ".join(words), self.projects, self.templates, self.new_projects,
                     strict=True)

    def decode(self, audio: bytes | Int16) -> Parse:
        """Recognize one complete utterance (a file, or an endpointed segment)."""
        samples = audio if isinstance(audio, np.ndarray) else np.frombuffer(audio, np.int16)
        # TTS output and trimmed files start and stop right on the words, and contain exact
        # digital silence; the grammar search then has no silence to begin and end in. Pad with
        # room-tone-like noise and dither (-66 dBFS: far below any real microphone's floor).
        head, tail = (np.zeros(max(0, int(RATE * (PAD_SECONDS - q))), np.int16)
                      for q in _quiet_edges(samples))
        raw = add_noise(np.concatenate([head, samples, tail]), -66.0, seed=len(samples)).tobytes()
        rejected: Parse | None = None
        for n, pair in enumerate(self._passes):  # a second look only when the first rejected
            result = self._decode_pair(pair, raw, in_child=n == 0)
            if result.command:
                return result
            rejected = rejected or result
        assert rejected is not None
        return rejected

    def _decode_pair(self, pair: list[pocketsphinx.Decoder], raw: bytes, *, in_child: bool
                     ) -> Parse:
        child = self._lm_process if in_child else None
        if child is not None:
            try:
                child.begin(raw)
                said = self._decode_one(pair[0], raw)
                return self._judge(said, child.result())
            except (OSError, EOFError, TimeoutError, RuntimeError) as exc:
                # The child is gone (killed, out of memory): decode here from now on.
                log.warning("the LM decoder process failed; decoding in-process",
                            error=f"{type(exc).__name__}: {exc}")
                child.close()
                self._lm_process = None
        for d in pair:
            self._decode_one(d, raw)
        return self._verdict(pair)

    @staticmethod
    def _decode_one(decoder: pocketsphinx.Decoder, raw: bytes) -> list[str]:
        decoder.start_utt()
        decoder.process_raw(raw, False, True)  # full_utt: normalize over the whole utterance
        decoder.end_utt()
        return hypothesis_words(decoder.hyp())

    def close(self) -> None:
        if self._lm_process is not None:
            self._lm_process.close()
            self._lm_process = None
        self._passes = []
        self._tmp.cleanup()


class Listener:
    """Endpointer + recognizer for a live stream: ``feed`` microphone chunks, get results.

    Each utterance is decoded whole once the endpointer closes it: whole-utterance cepstral
    normalization is far more accurate than the live estimate, which misheard first utterances.
    """

    def __init__(self, recognizer: Recognizer, window: float = ENDPOINT_WINDOW) -> None:
        self.recognizer = recognizer
        self.segmenter = UtteranceSegmenter(window=window)

    def feed(self, chunk: bytes | Int16) -> list[Parse]:
        return [self.recognizer.decode(u) for u in self.segmenter.feed(chunk)]

    def flush(self) -> list[Parse]:
        """End of stream: decode an utterance that is still open."""
        return [self.recognizer.decode(u) for u in self.segmenter.flush()]
