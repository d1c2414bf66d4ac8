"""Offline speech recognition of Jason's commands with pocketsphinx.

Two decoders hear the same audio: one constrained by the command grammar (JSGF), one by a small
trigram language model built from the same phrases. A grammar decoder maps *any* speech onto
some command (about one in three ordinary sentences came out as a command); the LM decoder is
free to produce other word orders, so an utterance is accepted only when both agree: the same
words, or the same command and slots (they may differ in optional words like "the"). When they
disagree, a second LM decoder that weighs the sounds more than the word statistics gets a say
(``SECOND_LOOK_LM``): agreement with either accepts.

The decoders run in child processes (``decoder_process``): pocketsphinx holds Python's lock
while it decodes, so in-process decoding would freeze the GUI thread, and in two children the
main pass's decoders decode at once. ``parallel=False`` (one-shot CLI use, where spawning costs more
than it saves) decodes here.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pocketsphinx

from worker.jason import grammar, whisper_names
from worker.jason.audio import (
    ENDPOINT_WINDOW,
    RATE,
    Int16,
    UtteranceSegmenter,
    add_noise,
    quiet_edges,
)
from worker.jason.commands import (
    BY_NAME,
    SPOKEN_PREFIX,
    SPOKEN_SUFFIX,
    slot_vocabulary,
    spoken,
    words_of,
)
from worker.jason.decoder_process import TIMED, WHISPER, DecoderProcess
from worker.jason.explain import MAX_GAP_PHONES, NOT_SPEECH, Explanation, explain
from worker.jason.names import as_name, name_decoder_config, name_words
from worker.jason.parser import Parse, parse, suggest
from worker.jason.pronounce import (
    HMM_DIR,
    MODEL_DIR,
    dictionary_lines,
    pronunciation_table,
)
from worker.logs import get_logger

pocketsphinx.set_loglevel("FATAL")
log = get_logger("titan.jason.recognizer")
_IGNORED = {SPOKEN_PREFIX, SPOKEN_SUFFIX}
# topn: Gaussians scored per codebook (default 4 of 128); 16 cut misrecognitions of the voices
# furthest from the model's training speech (en-gb, a female voice) by a third. Wider beams
# (defaults 1e-48/1e-48/7e-29) stop pruning the right path of those voices early. Measured on
# the synthesized set: 89.6% -> 92.4% (topn) -> 94.5% (beams); CPU ~1.4x, then ~1.3x.
TUNED_OPTIONS: dict[str, object] = {"topn": 16, "beam": 1e-60, "pbeam": 1e-60, "wbeam": 1e-40}
# The second look at an utterance the main pass rejected: the command LM with language weight 4
# (pocketsphinx's default is 6.5), asked only when the two main decoders disagree. On the full
# synthesized set it recovered 2 more commands (the main LM heard "why did it failed" at 210
# wpm) and accepted none of the non-commands. Measured and not adopted: frequency-warped front ends
# (VTLN 1.1/1.2: +4/+8 commands, but "it is raining again outside" -> "reject Moon Garden").
SECOND_LOOK_LM: dict[str, object] = {"lw": 4.0}
# The phone loop that checks an accepted command explains what was said (``explain``):
# pocketsphinx's phone-recognition settings (its phone bigram, language weight 2).
PHONE_LOOP: dict[str, object] = {"allphone": os.path.join(MODEL_DIR, "en-us-phone.lm.bin"),
                                 "allphone_ci": True, "lw": 2.0, "beam": 1e-20, "pbeam": 1e-20}
# Extra pocketsphinx options (both decoders / the LM decoders only). fwdflat=False: the LM
# decoders skip pocketsphinx's second, flat-lexicon pass, which cost a third of their time
# (210 -> 140 ms per utterance) and changed nothing measurable: 542/594 tuned commands right
# either way, held-out near-commands accepted 20 -> 17 of 270. (topn 8 for the LM decoders
# saved 40 ms more but lost 4 commands.)
DECODER_OPTIONS: dict[str, object] = {}
LM_OPTIONS: dict[str, object] = {"fwdflat": False}
PAD_SECONDS = 0.3  # quiet wanted around an utterance
FRAME = RATE // 100  # samples in a decoder frame (10 ms)
# Commands whose name may be new: heard by the names decoder, and read back.
NAMING = ("create_project", "name_correction")
NAMES_TIMEOUT = 120.0
# The last word of a lead-in after which a name follows ("... called", "call it", "name is").
NAME_LEAD_ENDS = frozenset({"called", "named", "it", "is"})
# Quiet after a whole command that cannot go on before the Listener answers, without waiting
# out the endpointer's window (the decode began at the pause, so it is usually done by then).
EARLY_END = 0.12
# An utterance that starts this soon after an early answer is its tail ("... Moon Garden,
# please"): dropped when it is not a command, or is a yes/no to a question not yet asked.
TAIL = 0.6


def hypothesis_words(hyp: pocketsphinx.Hypothesis | None) -> list[str]:
    """The words of a hypothesis, without fillers, silences and alternate-pronunciation marks."""
    if hyp is None:
        return []
    out = []
    for w in hyp.hypstr.split():
        w = re.sub(r"\(\d+\)$", "", w)
        if not (w.startswith(("<", "[")) or w in _IGNORED):
            out.extend(w.split(grammar.JOINER))  # a slot filler is one decoder word
    return out


Phones = list[tuple[str, int, int]]  # (phone, first frame, last frame)


def timed_phones(decoder: pocketsphinx.Decoder) -> Phones:
    """The phone loop's answer: its phones with their frames."""
    return [(seg.word, seg.start_frame, seg.end_frame) for seg in decoder.seg()]


def _contains(words: list[str], part: list[str]) -> bool:
    """``part`` stands in ``words`` as a run of whole words."""
    return any(words[i:i + len(part)] == part for i in range(len(words)))


def _last_place(words: list[str], part: list[str]) -> int | None:
    """Where ``part`` last stands in ``words`` as a run of whole words (None: nowhere)."""
    return next((i for i in range(len(words) - len(part), -1, -1)
                 if words[i:i + len(part)] == part), None)


def _same(a: Parse, b: Parse) -> bool:
    return a.command == b.command and a.slots == b.slots


@dataclass
class Decoding:
    """An utterance handed to the decoders (``Recognizer.begin``); ``Recognizer.result`` waits
    for it. ``number`` orders it among the children's answers (None: decode in-process)."""

    raw: bytes
    number: int | None = None
    main: tuple[list[str], list[str], Phones] | None = None  # the main pass, once read
    second: list[str] | None = None  # the second look's words, once asked
    borne_out: dict[str, bool] = field(default_factory=dict)  # project -> Whisper's verdict
    transcript: list[str] | None = None  # Whisper's words for the whole utterance, once asked
    # Whisper's name guesses, by the words around the name (a create whose grammar heard an
    # existing project asks twice: for the name to read back, and whether it bears that out)
    names: dict[tuple[tuple[str, ...], tuple[str, ...]], list[whisper_names.Guess]] = \
        field(default_factory=dict)


class Recognizer:
    """Decode 16 kHz mono int16 audio into a ``Parse`` (``command=None`` when rejected).

    ``decode(audio)`` for a whole utterance; ``begin(audio)`` / ``result(decoding)`` to let the
    decoders work while the caller does something else (several may be outstanding; asking for
    one gives up on those begun before it, and the children skip one overtaken by a newer
    ``begin`` before they started it: asked for later, it is decoded here). Call
    ``set_vocabulary`` when projects change. Decoding normalizes over the whole utterance,
    which is far more accurate than pocketsphinx's live estimate (it misheard the first
    utterance or two of a stream).
    """

    def __init__(self, projects: Sequence[str] = (), templates: Sequence[str] = (),
                 new_projects: Sequence[str] = (), *, parallel: bool = True) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="titan-jason-")
        self._known: set[str] = set()
        self._version = 0
        self._jsgf = self._lm_path = ""
        # In-process decoders [grammar, LM, phone loop, second-look LM]: created on first
        # need (no children, or a child died), since loading them holds Python's lock.
        self._local: list[pocketsphinx.Decoder] = []
        self._parallel = parallel
        self._children: list[DecoderProcess] = []  # the same four, when parallel
        self._phones_of: dict[str, list[str]] = {}
        self._names_child: DecoderProcess | None = None  # new names (``names``)
        self._names_local: pocketsphinx.Decoder | None = None
        # Whisper hears new names when installed; pocketsphinx's word list otherwise.
        self._whisper = whisper_names.available()
        self._whisper_local: whisper_names.WhisperNames | None = None
        # Jason has read a name back and waits for it: only then is "call it <name>" a
        # correction ("call my mother tomorrow evening" came out as one).
        self.expecting_name = False
        self.avoid_names: set[str] = set()  # names read back and not accepted: hear another
        # Whisper's guesses at each hearing of the name being read back (the request, then
        # each correction): a correction's choice weighs them all (``whisper_names.choose``).
        self._hearings: list[list[whisper_names.Guess]] = []
        self._hearings_if_read_back: list[list[whisper_names.Guess]] = []
        self._sent = self._read = 0  # utterances sent to the children / answers read
        self._streamed = 0  # samples the phone loop has heard of the utterance being spoken
        self.set_vocabulary(projects, templates, new_projects)

    def set_vocabulary(self, projects: Sequence[str] = (), templates: Sequence[str] = (),
                       new_projects: Sequence[str] = ()) -> None:
        self.projects, self.templates = tuple(projects), tuple(templates)
        self.new_projects = tuple(new_projects)
        vocab = slot_vocabulary(self.projects, self.templates, self.new_projects)
        self._vocab = vocab
        words = grammar.words(vocab)
        if not self._known:
            self._known = set(words)
            if self._parallel:
                self._names_child = DecoderProcess(
                    {WHISPER: True} if self._whisper else self._names_config(), "names")
                self._children = [DecoderProcess(config, name) for config, name
                                  in zip(self._configs(), ("grammar", "lm", "phones", "lm2"),
                                         strict=True)]
        elif new := [(word if i == 0 else f"{word}({i + 1})", phones)
                     for word, prons in sorted(pronunciation_table(words - self._known).items())
                     for i, phones in enumerate(prons)]:
            # New project names: teach the existing decoders the new words.
            for word, phones in new:
                for d in self._word_decoders(self._local):
                    d.add_word(word, phones, True)
            for child in self._word_decoders(self._children):
                child.add_words(new)
            self._known |= words
        # A new file per vocabulary: a child process reads it later, in its own time.
        self._version += 1
        self._lm_path = os.path.join(self._tmp.name, f"commands-{self._version}.lm")
        with open(self._lm_path, "w", encoding="utf-8") as f:
            f.write(grammar.arpa(vocab))
        self._jsgf = grammar.jsgf(vocab)
        if self._local:
            self._set_searches(self._local)
        if self._children:
            self._children[0].set_jsgf(self._jsgf)
            for child in self._word_decoders(self._children)[1:]:
                child.set_lm(self._lm_path)

    def _configs(self) -> list[dict[str, object]]:
        """Grammar, LM and second-look LM decoder configurations, over a dictionary of the
        words known now (a small dictionary loads in milliseconds; all of CMUdict takes ~1 s)."""
        dict_path = os.path.join(self._tmp.name, f"jason-{self._version}.dict")
        with open(dict_path, "w", encoding="utf-8") as f:
            f.write("\n".join(dictionary_lines(self._known)) + "\n")
        common = {"hmm": HMM_DIR, "dict": dict_path, "lm": None, "samprate": RATE,
                  "loglevel": "FATAL", **TUNED_OPTIONS, **DECODER_OPTIONS}
        # bestpath=False on the grammar decoder: pocketsphinx 5's lattice rescoring of an FSG
        # search returns unfinished paths ("pause worker" came out as "what was the").
        lm = {**common, **LM_OPTIONS}
        phones = {"hmm": HMM_DIR, "dict": dict_path, "lm": None, "samprate": RATE,
                  "loglevel": "FATAL", **PHONE_LOOP}
        return [{**common, "bestpath": False}, lm, {**phones, TIMED: True},
                {**lm, **SECOND_LOOK_LM}]

    @staticmethod
    def _word_decoders(decoders: list[Any]) -> list[Any]:
        """Grammar, LM, second-look LM: not the phone loop, which knows no words."""
        return [d for i, d in enumerate(decoders) if i != 2]

    def _set_searches(self, decoders: list[pocketsphinx.Decoder]) -> None:
        gram, *lms = self._word_decoders(decoders)
        gram.add_jsgf_string("commands", self._jsgf)
        gram.activate_search("commands")
        for lm in lms:
            lm.add_lm_file("commands", self._lm_path)
            lm.activate_search("commands")

    def _local_decoders(self) -> list[pocketsphinx.Decoder]:
        if not self._local:
            self._local = [pocketsphinx.Decoder(**{k: v for k, v in config.items() if k != TIMED})
                           for config in self._configs()]
            self._set_searches(self._local)
        return self._local

    # --- decoding --------------------------------------------------------------------------

    def decode(self, audio: bytes | Int16) -> Parse:
        """Recognize one complete utterance (a file, or an endpointed segment)."""
        return self.result(self.begin(audio))

    # --- the phone loop hearing an utterance while it is spoken (``Listener``) ---------------

    def open_stream(self, samples: Int16) -> None:
        """An utterance has begun (``samples``: its start): the phone loop's child hears it from
        now on, so that at a pause its phones are ready and the other two decoders have the
        cores to themselves. The start is padded as ``begin`` pads it, so frames line up."""
        if not self._children:
            return
        head = np.zeros(max(0, int(RATE * (PAD_SECONDS - quiet_edges(samples)[0]))), np.int16)
        self._streamed = len(head) + len(samples)
        self._send_stream(lambda child, raw: child.open_stream(raw),
                          np.concatenate([head, samples]))

    def stream(self, samples: Int16) -> None:
        """More of the utterance being spoken (after ``open_stream``)."""
        if self._children and self._streamed:
            self._streamed += len(samples)
            self._send_stream(lambda child, raw: child.stream(raw), samples)

    def close_stream(self) -> None:
        """The utterance is over (answered, or ended by the endpointer)."""
        if self._children and self._streamed:
            self._streamed = 0
            try:
                self._children[2].close_stream()
            except (OSError, ValueError) as exc:
                self._lost_children(exc)

    def _send_stream(self, send: Callable[[DecoderProcess, bytes], None],
                     samples: Int16) -> None:
        raw = add_noise(samples, -66.0, seed=self._streamed).tobytes()  # dither, as ``begin``
        try:
            send(self._children[2], raw)
        except (OSError, ValueError) as exc:
            self._lost_children(exc)

    def begin(self, audio: bytes | Int16, *, streamed: bool = False) -> Decoding:
        """Hand an utterance to the child decoders and return at once. ``streamed``: it is the
        utterance the phone loop has been hearing (``open_stream``): its phones so far are
        asked for instead of decoding it again."""
        samples = audio if isinstance(audio, np.ndarray) else np.frombuffer(audio, np.int16)
        # TTS output and trimmed files start and stop right on the words, and contain exact
        # digital silence; the grammar search then has no silence to begin and end in. Pad with
        # room-tone-like noise and dither (-66 dBFS: far below any real microphone's floor).
        head, tail = (np.zeros(max(0, int(RATE * (PAD_SECONDS - q))), np.int16)
                      for q in quiet_edges(samples))
        raw = add_noise(np.concatenate([head, samples, tail]), -66.0, seed=len(samples)).tobytes()
        decoding = Decoding(raw)
        if self._children:
            try:
                for child in self._children[:2]:
                    child.begin(raw)
                if streamed and self._streamed:
                    self._children[2].ask_phones()
                else:
                    self._children[2].begin(raw)
                decoding.number = self._sent
                self._sent += 1
            except (OSError, ValueError) as exc:
                self._lost_children(exc)
        return decoding

    def ready(self, decoding: Decoding) -> bool:
        """Whether ``result(decoding)`` would have its main pass at once (answers to decodings
        begun before it, given up on, are read and dropped on the way)."""
        number = decoding.number
        if number is None or not self._children or number < self._read:
            return True
        try:
            while all(child.ready() for child in self._children[:3]):
                if number == self._read:
                    return True
                self._read_answer()
            return False
        except (OSError, EOFError, TimeoutError, RuntimeError) as exc:
            self._lost_children(exc)
            return True

    def may_continue(self, parse: Parse) -> bool:
        """Whether the words heard for an accepted command begin a longer phrase ("status" ->
        "status of Moon Garden", "show the logs" -> "show the logs tab")."""
        words = " ".join(words_of(parse.text)).lower()
        slot_types = BY_NAME[parse.command].slots if parse.command else {}
        for slot, value in parse.slots.items():
            forms = self._vocab.get(slot_types.get(slot, slot), {})
            for form in sorted((f for f, canon in forms.items() if canon == value), key=len,
                               reverse=True):  # the form said: "this week" before "week"
                words, found = re.subn(rf"\b{re.escape(form)}\b", f"{{{slot}}}", words, count=1)
                if found:
                    break
        return tuple(words.split()) in grammar.phrase_prefixes()

    def result(self, decoding: Decoding, *, whisper: bool = True) -> Parse:
        """The verdict on a ``begin``: the main pass, then the second look if they disagree.
        ``whisper=False``: no new names and no last look (a decode at a pause, which more
        speech may still replace, should not wait for them); asking again with Whisper
        reuses the main pass. A known project's name is checked by Whisper either way."""
        if decoding.main is None:
            decoding.main = self._main_pass(decoding)
        said, free, phones = decoding.main
        if whisper:  # only a name read back from this utterance may be corrected next
            self._hearings_if_read_back = []
        named = self._open_name(said, free, phones, decoding) if whisper else None
        if named is None and self._whisper and whisper:
            named = self._name_after_lead_in(said, free, phones, decoding)
        result = self._verdict(said, free)
        if result.command is None and said and self._parse(said).command:
            if decoding.second is None:
                decoding.second = self._second_look(decoding)
            second = self._verdict(said, decoding.second)
            if second.command:
                result = second
            elif named is None and whisper and (agreed := self._whisper_agrees(said, decoding)):
                return agreed
        if result.command is None:
            return named or result
        if named is not None and result.command == named.command \
                and result.slots.get("project") in self.projects \
                and named.slots["project"] != result.slots["project"] \
                and not self._name_borne_out(result, decoding):
            # "create a project called silver fox" came out as an existing project's name,
            # phone loop and all: a create names a new project, so Whisper's name is read back
            # (unless Whisper's guesses bear the existing name out: "Woundarden")
            return named
        explanation = self.explanation(said, phones)
        if not explanation.ok and named is not None:
            return named  # a new name the grammar could only hear as a known one
        if not explanation.ok:  # "restart the computer" heard as "restart the worker"
            if whisper and (agreed := self._whisper_agrees(said, decoding)):
                return agreed
            if whisper and self._whisper_vouches(result, explanation, decoding) \
                    and self._name_borne_out(result, decoding):
                log.info("accepted: Whisper heard the words the phone loop did not", said=said,
                         unexplained=list(explanation.unexplained))
                return result
            log.info("rejected: the command does not explain what was said", said=said,
                     unexplained=list(explanation.unexplained), gap=explanation.gap)
            return self._rejection(said, free)
        if not self._name_borne_out(result, decoding):
            return self._rejection(said, free)
        return result

    def _name_borne_out(self, result: Parse, decoding: Decoding) -> bool:
        """Whether Whisper hears the known project the command names where the grammar heard
        it. The grammar can only hear the names it lists, and the phone loop takes "my package"
        for "moon garden" as readily; Whisper, which knows English, writes "my package".
        Whisper reads only the utterance (~60 ms), so every command naming a project is
        checked, early answers included. Without Whisper the check is skipped."""
        project = result.slots.get("project")
        listed = (*self.projects, *self.new_projects)  # the names the grammar can hear
        if not self._whisper or project not in listed or result.read_back:
            return True
        if project not in decoding.borne_out:
            said = result.text.split()
            form = spoken(project).split()
            start = _last_place(said, form)
            if start is None:
                return True  # said in another form ("project moon garden"): nothing to align
            guesses = self._hear_name(decoding, said[:start], said[start + len(form):])
            names = [g.name for g in guesses]
            decoding.borne_out[project] = whisper_names.bears_out(names, spoken(project),
                                                                  self._phones)
            if not decoding.borne_out[project]:
                log.info("rejected: Whisper does not hear the project's name", said=said,
                         project=project, whisper=names[:4])
        return decoding.borne_out[project]

    def _whisper_vouches(self, result: Parse, explanation: Explanation,
                         decoding: Decoding) -> bool:
        """Whether Whisper heard, word for word, each content word of the command that the
        phone loop did not bear out (in noise, its phones drift: "titan shop *status*"),
        with no run of sounds left over that the command does not cover. The words of a
        known project's name are left to ``_name_borne_out``. A near-command fails here:
        Whisper writes "restart the computer", and "worker" is not in it."""
        if not self._whisper or explanation.gap > MAX_GAP_PHONES:
            return False
        name = set(spoken(result.slots.get("project", "")).split())
        heard = set(self._transcript(decoding))
        lost = [word for word in explanation.unexplained if word not in name]
        return bool(heard) and all(word in heard for word in lost)

    def _transcript(self, decoding: Decoding) -> list[str]:
        if decoding.transcript is None:
            decoding.transcript = self._transcribe(decoding.raw)
        return decoding.transcript

    def _whisper_agrees(self, said: list[str], decoding: Decoding) -> Parse | None:
        """The last look at a command about to be rejected (fast speech, noise): Whisper's
        transcript of the whole utterance, parsed as strictly as typed text. It accepts only
        when that is the same command with the same slots as the grammar's; Whisper knows all
        of English, so "what is the status of my order" stays itself, not a command. (Giving
        Whisper the grammar's first word and asking for the rest was tried: 9 fewer commands
        right over the 594 tuned utterances, and 2 non-commands accepted.)"""
        heard = self._parse(said)
        if not self._whisper or not heard.command:
            return None
        words = self._transcript(decoding)
        if words and _same(heard, self._parse(words)):
            log.info("accepted on Whisper's agreement", said=said, whisper=words)
            return heard
        return None

    def _transcribe(self, raw: bytes) -> list[str]:
        answer = self._ask_names_child(lambda child: child.begin_transcript(raw))
        if answer is not None:
            return list(answer)
        local = self._local_whisper()
        return local.transcript(np.frombuffer(raw, np.int16)) if local else []

    def _ask_names_child(self, send: Callable[[DecoderProcess], None]) -> Any:
        """The names child's answer to what ``send`` asks it, or None when there is no child
        or it failed (then it is closed, and the caller works in-process from now on). Its
        first answer waits for its model or word list to load."""
        if self._names_child is None:
            return None
        try:
            send(self._names_child)
            return self._names_child.result(timeout=NAMES_TIMEOUT)
        except (OSError, EOFError, TimeoutError, RuntimeError, ValueError) as exc:
            log.warning("the names process failed; hearing names in-process",
                        error=f"{type(exc).__name__}: {exc}")
            self._names_child.close()
            self._names_child = None
            return None

    def _local_whisper(self) -> whisper_names.WhisperNames | None:
        """Whisper in this process (its child failed); None, and the word list from now on,
        when it cannot load here either (say, a model file that is not the reviewed one)."""
        if self._whisper_local is None and self._whisper:
            try:
                self._whisper_local = whisper_names.WhisperNames(frozenset(name_words()))
            except (ImportError, OSError, RuntimeError, ValueError) as exc:
                log.warning("Whisper cannot load; new names by the pocketsphinx word list",
                            error=f"{type(exc).__name__}: {exc}")
                self._whisper = False
        return self._whisper_local

    def explanation(self, said: list[str], phones: Phones) -> Explanation:
        """How well the command's words explain the phone loop's sounds: the best of saying
        it with and without the optional "jason" before and "please" after (``spans`` are
        those of ``said``'s words)."""
        heard = [p for p, _, _ in phones if p not in NOT_SPEECH]
        best: tuple[int, int, int, Explanation] | None = None
        for head in ([], [SPOKEN_PREFIX]):
            for tail in ([], [SPOKEN_SUFFIX]):
                got = explain([(w, self._phones(w)) for w in [*head, *said, *tail]], heard)
                key = (len(got.unexplained), got.gap, len(head))
                if best is None or key[:2] < best[:2]:
                    best = (*key, got)
        assert best is not None  # four tries
        _, _, offset, got = best
        return Explanation(got.unexplained, got.gap, got.spans[offset:offset + len(said)],
                           got.errors[offset:offset + len(said)])

    def _open_name(self, said: list[str], free: list[str], phones: Phones,
                   decoding: Decoding) -> Parse | None:
        """A create command (or a name correction) with its name heard by the names decoder
        over the name's stretch of audio, marked for a read-back; None when the words around
        the name are not explained, or nothing was heard there."""
        heard = self._parse(said)
        if heard.command not in NAMING or "project" not in heard.slots:
            return None
        if heard.command == "name_correction" and not self.expecting_name:
            return None
        form = spoken(heard.slots["project"]).split()
        start = _last_place(said, form)
        if start is None:
            return None
        end = start + len(form)  # said[start:end] is the name the grammar heard
        got = self.explanation(said, phones)
        if set(got.unexplained) - set(form) or len(got.spans) != len(said):
            return None  # the words around the name are something else
        timed = [t for t in phones if t[0] not in NOT_SPEECH]
        if not timed:
            return None
        before = [sp for sp in got.spans[:start] if sp is not None]
        after = [sp for sp in got.spans[end:] if sp is not None]
        first = timed[before[-1][1] + 1][1] if before and before[-1][1] + 1 < len(timed) \
            else timed[0][1]
        last = timed[after[0][0] - 1][2] if after and after[0][0] > 0 else timed[-1][2]
        if last - first < 10:  # under 0.1 s: no name there
            return None
        if self._whisper:
            guess = self._choose_name(self._hear_name(decoding, said[:start], said[end:]),
                                      correcting=heard.command == "name_correction")
            words = guess.split() if guess else []
        else:
            samples = np.frombuffer(decoding.raw, np.int16)
            margin = 5  # frames of 10 ms
            cut = samples[max(0, first - margin) * FRAME:(last + margin) * FRAME]
            words = self._decode_name(cut.tobytes())
        if not words:
            return None
        name = as_name(words)
        slots = {**heard.slots, "project": name}
        if "template" in slots and not any(
                _contains(free, form.split())
                for form, ref in self._vocab.get("template", {}).items()
                if ref == slots["template"]):
            del slots["template"]  # only the grammar heard it: the read-back names the default
        text = " ".join([*said[:start], *(w.lower() for w in name.split()), *said[end:]])
        log.info("heard a new name", name=name, grammar_heard=heard.slots["project"])
        return Parse(heard.command, slots, text, read_back=True)

    def _name_after_lead_in(self, said: list[str], free: list[str], phones: Phones,
                            decoding: Decoding) -> Parse | None:
        """The grammar heard "create a project called" and then a name or template the phone
        loop does not bear out ("... called blue harbor from the landing template" for "quantum
        pickle using the persona template"): Whisper hears the name after those words. Only
        when the phone loop explains the lead-in words. When the grammar search found no
        path at all ("crimson tide", "thunder road"), the LM's words stand in for the lead-in
        (the template then stays the default: the grammar did not hear one)."""
        words = said or free  # the lead-in, as the grammar or else the LM heard it
        for command in NAMING:
            if command == "name_correction" and not self.expecting_name:
                continue
            leads = [lead for lead in grammar.words_before_slot(command, "project")
                     if lead[-1] in NAME_LEAD_ENDS and tuple(words[:len(lead)]) == lead]
            if not leads or len(words) <= len(lead := max(leads, key=len)):
                continue
            got = self.explanation(words, phones)
            if set(got.unexplained) & set(lead) or len(got.spans) != len(words):
                return None
            follower = [w for w in words[len(lead) + 1:] if w in whisper_names.FOLLOWERS][:1]
            guess = self._choose_name(self._hear_name(decoding, list(lead), follower),
                                      correcting=command == "name_correction")
            if not guess:
                return None
            slots = {"project": as_name(guess.split())}
            template = self._template_both_heard(said, free) \
                if command == "create_project" else None
            if template:
                slots["template"] = template
            log.info("heard a new name after the lead-in", name=slots["project"], said=words)
            return Parse(command, slots, " ".join([*lead, guess]), read_back=True)
        return None

    def _template_both_heard(self, said: list[str], free: list[str]) -> str | None:
        """A template both the grammar and the command LM heard (one alone is not trusted)."""
        for form, ref in sorted(self._vocab.get("template", {}).items(), key=lambda f: -len(f[0])):
            if _contains(said, form.split()) and _contains(free, form.split()):
                return ref
        return None

    def expect_name(self, read_back: str | None) -> None:
        """Jason has read ``read_back`` back and waits ("call it <name>" is now a correction,
        and a name heard again that equals it is passed over for Whisper's next guess); None
        when he no longer waits."""
        self.expecting_name = read_back is not None
        if read_back is None:
            self.avoid_names.clear()
            self._hearings = self._hearings_if_read_back = []
        else:
            self.avoid_names.add(read_back.lower())
            self._hearings = self._hearings_if_read_back

    def _choose_name(self, guesses: list[whisper_names.Guess], *,
                     correcting: bool) -> str | None:
        """The name to read back. A correction ("no, call it ...") is another hearing of the
        name already read back: every hearing so far has a say."""
        hearings = [*self._hearings, guesses] if correcting and self.expecting_name \
            else [guesses]
        self._hearings_if_read_back = hearings
        return whisper_names.choose(hearings, self.avoid_names)

    def _hear_name(self, decoding: Decoding, before: list[str],
                   after: list[str]) -> list[whisper_names.Guess]:
        """Whisper's guesses for the name between ``before`` and ``after`` (asked once)."""
        key = (tuple(before), tuple(after))
        if key not in decoding.names:
            decoding.names[key] = self._ask_name(decoding.raw, before, after)
        return decoding.names[key]

    def _ask_name(self, raw: bytes, before: list[str],
                  after: list[str]) -> list[whisper_names.Guess]:
        answer = self._ask_names_child(lambda child: child.begin_name(raw, before, after))
        if answer is not None:
            return [whisper_names.Guess(name, common) for name, common in answer]
        local = self._local_whisper()
        return local.guesses(np.frombuffer(raw, np.int16), before, after) if local else []

    def _decode_name(self, raw: bytes) -> list[str]:
        answer = self._ask_names_child(lambda child: child.begin(raw))
        if answer is not None:
            return list(answer)
        if self._names_local is None:
            self._names_local = pocketsphinx.Decoder(**self._names_config())
        return self._decode_one(self._names_local, raw)

    def _names_config(self) -> dict[str, object]:
        return name_decoder_config(self._tmp.name)

    def _phones(self, word: str) -> list[str]:
        if word not in self._phones_of:
            self._phones_of[word] = pronunciation_table([word])[word][0].split()
        return self._phones_of[word]

    def _main_pass(self, decoding: Decoding) -> tuple[list[str], list[str], Phones]:
        number = decoding.number
        if number is not None and number >= self._read and self._children:
            try:
                while True:  # answers come in the order sent; earlier ones were given up on
                    answer = self._read_answer()
                    if self._read > number:
                        break
                if answer is not None:
                    return answer
                # skipped by a child, as a newer one was begun: asked for all the same
            except (OSError, EOFError, TimeoutError, RuntimeError) as exc:
                self._lost_children(exc)
        gram, lm, loop, _ = self._local_decoders()
        said, free = self._decode_one(gram, decoding.raw), self._decode_one(lm, decoding.raw)
        self._decode_one(loop, decoding.raw)
        return said, free, timed_phones(loop)

    def _read_answer(self) -> tuple[list[str], list[str], Phones] | None:
        """The main pass's next answer (grammar words, LM words, phones), in the order sent;
        None when a child skipped that decode because a newer one was waiting behind it."""
        said, free, phones = (child.result() for child in self._children[:3])
        self._read += 1
        if said is None or free is None or phones is None:
            return None
        return said, free, [tuple(p) for p in phones]

    def _second_look(self, decoding: Decoding) -> list[str]:
        if self._children:
            try:
                self._children[3].begin(decoding.raw)
                return list(self._children[3].result())
            except (OSError, EOFError, TimeoutError, RuntimeError, ValueError) as exc:
                self._lost_children(exc)
        return self._decode_one(self._local_decoders()[3], decoding.raw)

    def _lost_children(self, exc: BaseException) -> None:
        """A child is gone (killed, out of memory): decode in-process from now on."""
        log.warning("a decoder process failed; decoding in-process",
                    error=f"{type(exc).__name__}: {exc}")
        self._close_children()

    def _verdict(self, said: list[str], free: list[str]) -> Parse:
        if said:
            result = self._parse(said)
            # Agreement: the same words, or words that differ only in optional parts ("restart
            # the worker" / "restart worker"), i.e. the same command with the same slots.
            if result.command and (said == free or _same(result, self._parse(free))):
                return result
        return self._rejection(said, free)

    def _rejection(self, said: list[str], free: list[str]) -> Parse:
        """"Didn't catch that", with the commands closest to what the decoders heard."""
        heard = " ".join(free or said)
        return Parse(None, {}, heard, suggest(heard, self.projects, self.templates))

    def _parse(self, words: list[str]) -> Parse:
        return parse(" ".join(words), self.projects, self.templates, self.new_projects,
                     strict=True)

    @staticmethod
    def _decode_one(decoder: pocketsphinx.Decoder, raw: bytes) -> list[str]:
        decoder.start_utt()
        decoder.process_raw(raw, False, True)  # full_utt: normalize over the whole utterance
        decoder.end_utt()
        return hypothesis_words(decoder.hyp())

    def _close_children(self) -> None:
        for child in self._children:
            child.close()
        self._children = []
        if self._names_child is not None:
            self._names_child.close()
            self._names_child = None

    def close(self) -> None:
        self._close_children()
        self._local = []
        self._names_local = None
        self._whisper_local = None
        self._tmp.cleanup()


@dataclass
class _Early:
    """A decode begun at a pause: the samples it covers, and its verdict once read."""

    decoding: Decoding
    covers: int
    parse: Parse | None = None


class Listener:
    """Endpointer + recognizer for a live stream: ``feed`` microphone chunks, get results.

    While an utterance is spoken, the phone loop's child hears it chunk by chunk (its feature
    normalization running live, carried over from the utterances before). When the speaker
    pauses, the utterance so far goes to the grammar and LM decoders at once, and the phone
    loop is only asked for what it has heard: the two word decoders get the two cores. If it is
    a whole command that cannot go on, the answer comes after ``EARLY_END`` of quiet; otherwise
    when the endpointer closes the utterance with no more speech, that decode is the answer,
    so the decode overlaps the endpointer's wait instead of following it. Speech after the
    pause makes it stale: the whole utterance is decoded again at the end.
    """

    def __init__(self, recognizer: Recognizer, window: float = ENDPOINT_WINDOW,
                 early_end: float = EARLY_END) -> None:
        self.recognizer = recognizer
        self.segmenter = UtteranceSegmenter(window=window)
        self._early_frames = max(1, round(early_end / self.segmenter.vad.frame_length))
        self._early: _Early | None = None
        self._fed = 0  # samples fed so far
        self._early_answer_at: int | None = None  # self._fed when the last early answer came
        self._streamed_frames = 0  # frames of the open utterance the phone loop has heard

    def feed(self, chunk: bytes | Int16) -> list[Parse]:
        results = []
        self._fed += len(chunk) // 2 if isinstance(chunk, bytes) else len(chunk)
        for kind, audio in self.segmenter.events(chunk):
            if kind == "pause":
                self._stream_up_to_date()
                self._early = _Early(self.recognizer.begin(audio, streamed=True), len(audio))
                continue
            self._end_stream()
            result = self._finish(audio)
            if not self._is_tail(audio, result):
                results.append(result)
        if self.segmenter.in_speech:
            self._stream_up_to_date()
        if self._early is not None and self.segmenter.in_speech:
            early_answer = self._early_end(self._early)
            if early_answer is not None:
                self._early_answer_at = self._fed
                results.append(early_answer)
        return results

    def _stream_up_to_date(self) -> None:
        """The phone loop hears the open utterance as it grows (see ``Recognizer.open_stream``)."""
        frames = self.segmenter.open_frames
        if frames == self._streamed_frames:
            return
        audio = self.segmenter.frames_from(self._streamed_frames)
        if self._streamed_frames == 0:
            self.recognizer.open_stream(audio)
        else:
            self.recognizer.stream(audio)
        self._streamed_frames = frames

    def _end_stream(self) -> None:
        if self._streamed_frames:
            self._streamed_frames = 0
            self.recognizer.close_stream()

    def _is_tail(self, audio: Int16, result: Parse) -> bool:
        """Words right after an early answer belong to the command already answered: not a
        new one to reject ("didn't catch that"), nor the answer to a question Jason has not
        finished asking ("please" was heard as "no" or "yeah")."""
        answered_at, self._early_answer_at = self._early_answer_at, None
        if answered_at is None or self._fed - len(audio) - answered_at >= TAIL * RATE:
            return False
        return result.command is None or result.command.startswith("confirm_")

    def flush(self) -> list[Parse]:
        """End of stream: decode an utterance that is still open."""
        self._end_stream()
        return [self._finish(u) for u in self.segmenter.flush()]

    def _current(self, early: _Early, samples: int) -> bool:
        """Still valid when everything after it is the pause's own non-speech frames."""
        trailing = self.segmenter.frames_since_speech * self.segmenter.frame_bytes // 2
        return samples - early.covers <= trailing

    def _early_end(self, early: _Early) -> Parse | None:
        if (self.segmenter.frames_since_speech < self._early_frames
                or not self._current(early, self.segmenter.open_samples)):
            return None
        if early.parse is None:
            if not self.recognizer.ready(early.decoding):
                return None
            early.parse = self.recognizer.result(early.decoding, whisper=False)
        if early.parse.command is None or early.parse.command in NAMING \
                or self.recognizer.may_continue(early.parse):
            return None  # a name to hear, or a rejection Whisper may still overturn: wait
        self.segmenter.cut()
        self._end_stream()
        self._early = None
        return early.parse

    def _finish(self, audio: Int16) -> Parse:
        early, self._early = self._early, None
        if early is not None and self._current(early, len(audio)):
            parse = early.parse
            if parse is not None and parse.command is not None and parse.command not in NAMING:
                return parse  # Whisper changes only rejections and new names
            return self.recognizer.result(early.decoding)  # with Whisper (the passes kept)
        return self.recognizer.decode(audio)
