"""Voice path: every command spoken by espeak-ng in 3 voices and 3 rates, plus non-commands.

Each phrase is spoken in all three voices with the rate rotating (a Latin square), so every
command is heard in every voice and at every rate. Audio is cached per session.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from worker.jason import corpus
from worker.jason.audio import (
    ENDPOINT_WINDOW,
    RATE,
    UtteranceSegmenter,
    add_noise,
    frames,
    quiet_edges,
)
from worker.jason.commands import COMMANDS
from worker.jason.recognizer import Listener, Recognizer

SAMPLES = corpus.command_samples()


def _spoken_set(command: str) -> list[tuple[corpus.Sample, str, int]]:
    out = []
    for i, sample in enumerate(s for s in SAMPLES if s.command == command):
        for k, voice in enumerate(corpus.VOICES):
            out.append((sample, voice, corpus.RATES[(i + k) % len(corpus.RATES)]))
    return out


@pytest.mark.parametrize("command", [c.name for c in COMMANDS])
def test_every_command_is_heard_and_never_mistaken(command: str, recognizer: Recognizer,
                                                   audio_cache: Path) -> None:
    spoken = _spoken_set(command)
    assert {v for _, v, _ in spoken} == set(corpus.VOICES)
    assert {r for _, _, r in spoken} == set(corpus.RATES)
    right, wrong = 0, []
    for sample, voice, rate in spoken:
        result = recognizer.decode(corpus.spoken_audio(sample.text, voice, rate, audio_cache))
        if (result.command, result.slots) == (sample.command, sample.slots):
            right += 1
        elif result.command is not None and not result.read_back:
            # acting on a misheard command is the real harm (a name read back is a question)
            wrong.append((sample.text, voice, rate, result.to_json()))
    assert not wrong
    # Rejected utterances ("Sorry, I didn't catch that") are tolerated, but rarely.
    assert right >= 0.66 * len(spoken), f"{right}/{len(spoken)} recognized"


@pytest.mark.parametrize(("text", "slots"), [
    ("create a project called moon garden", {"project": "Moon Garden"}),  # default template
    ("create a project called blue harbor with the persona template",
     {"project": "Blue Harbor", "template": "persona/basic"}),
])
def test_natural_create_phrasings_are_heard(text: str, slots: dict[str, str],
                                            recognizer: Recognizer, audio_cache: Path) -> None:
    for voice in corpus.VOICES:
        result = recognizer.decode(corpus.spoken_audio(text, voice, 175, audio_cache))
        assert (result.command, result.slots) == ("create_project", slots), (voice, result.text)


def test_multi_word_and_unknown_word_project_names_are_recognized(
        recognizer: Recognizer, audio_cache: Path) -> None:
    for text, project in (("status of moon garden", "Moon Garden"),
                          ("open the output of my web app", "My Web App"),
                          ("approve zorblax", "Zorblax")):  # not in CMUdict: espeak phonemes
        result = recognizer.decode(corpus.spoken_audio(text, "en-us", 175, audio_cache))
        assert result.slots.get("project") == project, result


def test_second_look_recovers_a_command_the_main_pass_rejected(recognizer: Recognizer,
                                                                audio_cache: Path) -> None:
    """At 210 wpm the main LM decoder hears "why did it fail" as "why did it failed" (not a
    command), so the main pass alone says "didn't catch that"; the second-look LM agrees with
    the grammar and the command is carried out."""
    audio = corpus.spoken_audio("why did it fail", "en-us", 210, audio_cache)
    said, free, _ = recognizer._main_pass(recognizer.begin(audio))
    assert said == ["why", "did", "it", "fail"] and free != said
    assert recognizer._verdict(said, free).command is None
    assert recognizer.decode(audio).command == "last_error"


@pytest.mark.parametrize("sentence", corpus.NON_COMMANDS)
def test_non_commands_are_rejected(sentence: str, recognizer: Recognizer,
                                   audio_cache: Path) -> None:
    for voice in corpus.VOICES:
        result = recognizer.decode(corpus.spoken_audio(sentence, voice, 175, audio_cache))
        assert result.command is None, (voice, result)
        assert result.to_json()["command"] is None


def test_rejection_offers_the_closest_commands(recognizer: Recognizer, audio_cache: Path) -> None:
    result = recognizer.decode(corpus.spoken_audio("what is the weather like today", "en-us", 175,
                                                   audio_cache))
    assert result.command is None and result.suggestions


def test_new_project_names_can_be_added_at_run_time(audio_cache: Path) -> None:
    rec = Recognizer(["Moon Garden"], corpus.TEMPLATES)
    audio = corpus.spoken_audio("status of quartz lagoon", "en-us", 175, audio_cache)
    assert rec.decode(audio).command is None  # unknown name: no guessing
    rec.set_vocabulary(["Moon Garden", "Quartz Lagoon"], corpus.TEMPLATES)
    result = rec.decode(audio)
    assert (result.command, result.slots) == ("status_project", {"project": "Quartz Lagoon"})
    rec.close()


def test_listener_streams_microphone_chunks_into_utterances(recognizer: Recognizer,
                                                           audio_cache: Path) -> None:
    first = corpus.spoken_audio("pause the worker", "en-us", 175, audio_cache)
    second = corpus.spoken_audio("status of moon garden", "en-us", 175, audio_cache)
    gap = np.zeros(RATE, np.int16)
    stream = add_noise(np.concatenate([gap, first, gap, second, gap]), -60.0, seed=3)
    listener = Listener(recognizer)
    results = []
    for chunk in frames(stream, 0.02):  # 20 ms: not a multiple of the endpointer's frame
        results += listener.feed(chunk)
    results += listener.flush()
    assert [(r.command, r.slots) for r in results] == [
        ("pause_worker", {}), ("status_project", {"project": "Moon Garden"})]


def test_slow_long_command_is_one_utterance_with_the_short_endpoint_window(
        recognizer: Recognizer, audio_cache: Path) -> None:
    # The pauses between words of slow (140 wpm) speech must not split a long command in two,
    # nor end it early: "create new project called Blue Harbor" is not yet a command.
    text = "create new project called Blue Harbor using landing page"
    speech = corpus.spoken_audio(text, "en-us", 140, audio_cache, pad_seconds=0.0)
    gap = np.zeros(RATE, np.int16)
    stream = add_noise(np.concatenate([gap, speech, gap]), -60.0, seed=5)
    listener = Listener(recognizer)
    results = []
    for chunk in frames(stream, 0.02):
        results += listener.feed(chunk)
    results += listener.flush()
    assert [(r.command, r.slots) for r in results] == [
        ("create_project", {"project": "Blue Harbor", "template": "landing/page"})]


def _stream_through(listener: Listener, *parts: np.ndarray) -> list[tuple[str | None, dict]]:
    stream = add_noise(np.concatenate(parts), -60.0, seed=7)
    results = []
    for chunk in frames(stream, 0.02):
        results += listener.feed(chunk)
    results += listener.flush()
    return [(r.command, r.slots) for r in results]


def _words_only(audio: np.ndarray) -> np.ndarray:
    """espeak-ng's audio without the quiet before and after the words."""
    head, tail = (int(q * RATE) for q in quiet_edges(audio))
    return audio[head:len(audio) - tail]


def test_the_decode_starts_at_the_pause_and_is_the_answer(audio_cache: Path) -> None:
    """The utterance goes to the decoders when the speaker stops, before the endpointer is
    sure; with nothing said after, that one decode is the answer (no second decode). The phone
    loop has heard the words while they were spoken: at the pause its phones are asked for,
    not decoded again, so the grammar and LM decoders have the two cores to themselves."""
    rec = Recognizer(corpus.PROJECTS, corpus.TEMPLATES)
    try:
        phone_loop = rec._children[2]
        asked: list[str] = []
        for kind in ("begin", "ask_phones"):
            sent = getattr(phone_loop, kind)
            setattr(phone_loop, kind,
                    lambda *args, _sent=sent, _kind=kind: (asked.append(_kind), _sent(*args)))
        speech = corpus.spoken_audio("cancel moon garden", "en-us", 175, audio_cache,
                                     pad_seconds=0.0)
        gap = np.zeros(RATE, np.int16)
        assert _stream_through(Listener(rec), gap, speech, gap) == [
            ("cancel_project", {"project": "Moon Garden"})]
        assert rec._sent == 1
        assert asked == ["ask_phones"]
    finally:
        rec.close()


def test_speech_after_a_short_pause_replaces_the_early_decode(audio_cache: Path) -> None:
    """A person who stops for a quarter of a second mid-command ("cancel ... Moon Garden")
    starts an early decode of "cancel" alone; the words after it make that stale, and the
    whole command is decoded when the endpointer closes it."""
    rec = Recognizer(corpus.PROJECTS, corpus.TEMPLATES)
    try:
        cancel, name = (_words_only(corpus.spoken_audio(text, "en-us", 175, audio_cache))
                        for text in ("cancel", "moon garden"))
        gap, pause = np.zeros(RATE, np.int16), np.zeros(int(0.25 * RATE), np.int16)
        assert _stream_through(Listener(rec), gap, cancel, pause, name, gap) == [
            ("cancel_project", {"project": "Moon Garden"})]
        assert rec._sent >= 2  # the early decode of "cancel", then the whole utterance
    finally:
        rec.close()


def _fed_after_speech_until_answer(listener: Listener, speech: np.ndarray) -> tuple[list, float]:
    """Stream 1 s of quiet, the words, then quiet in 20 ms chunks: the results and how many
    seconds of quiet had been fed after the last word when the first answer came."""
    gap = np.zeros(RATE, np.int16)
    stream = add_noise(np.concatenate([gap, speech, gap]), -60.0, seed=11)
    end_of_speech, fed, results, waited = len(gap) + len(speech), 0, [], -1.0
    for chunk in frames(stream, 0.02):
        fed += len(chunk)
        got = listener.feed(chunk)
        if got and not results:
            waited = (fed - end_of_speech) / RATE
        results += got
    results += listener.flush()
    return [(r.command, r.slots) for r in results], waited


def test_a_whole_command_that_cannot_go_on_is_answered_before_the_window(
        audio_cache: Path) -> None:
    """"cancel Moon Garden" cannot continue: the answer comes after EARLY_END of quiet, not
    after the endpointer's 0.3 s window (decoding in-process, so the count is of audio, not of
    time). "how are the sales" may continue ("... this week"): it waits out the window."""
    rec = Recognizer(corpus.PROJECTS, corpus.TEMPLATES, parallel=False)
    try:
        whole = _words_only(corpus.spoken_audio("cancel moon garden", "en-us", 175, audio_cache))
        heard, soon = _fed_after_speech_until_answer(Listener(rec), whole)
        assert heard == [("cancel_project", {"project": "Moon Garden"})]
        assert 0 < soon < 0.2

        open_ended = _words_only(corpus.spoken_audio("how are the sales", "en-us", 175,
                                                     audio_cache))
        heard, waited = _fed_after_speech_until_answer(Listener(rec), open_ended)
        assert heard == [("sales", {"period": "today"})]
        # the window counts from the last frame loud enough to be speech, a little before the
        # quiet_edges end of the words
        assert waited > ENDPOINT_WINDOW - 0.06 and waited > soon + 0.1
    finally:
        rec.close()


def _said_with_a_pause(first: str, then: str, pause: float,
                       audio_cache: Path) -> list[tuple[str | None, dict]]:
    """``first``, ``pause`` seconds of quiet, ``then``: what an in-process Listener answers."""
    rec = Recognizer(corpus.PROJECTS, corpus.TEMPLATES, parallel=False)
    try:
        before, after = (_words_only(corpus.spoken_audio(text, "en-us", 175, audio_cache))
                         for text in (first, then))
        gap, quiet = np.zeros(RATE, np.int16), np.zeros(int(pause * RATE), np.int16)
        return _stream_through(Listener(rec), gap, before, quiet, after, gap)
    finally:
        rec.close()


def test_a_pause_after_words_that_may_go_on_does_not_cut_the_command(audio_cache: Path
                                                                     ) -> None:
    """"how are the sales" is already a command, but "... this week" may follow: a 0.2 s pause
    there (longer than EARLY_END) must not answer "today"."""
    assert _said_with_a_pause("how are the sales", "this week", 0.2, audio_cache) == [
        ("sales", {"period": "this week"})]


@pytest.mark.parametrize("voice", corpus.VOICES)
def test_the_endpointer_ends_on_the_words_not_their_fading_tail(voice: str,
                                                                audio_cache: Path) -> None:
    """The voice activity detector calls the fading end of a word speech for ~160 ms more;
    frames 35 dB under the utterance's loudest do not count, so the utterance ends one window
    after the words (measured in audio fed, not time)."""
    speech = _words_only(corpus.spoken_audio("restart the worker", voice, 175, audio_cache))
    gap = np.zeros(RATE, np.int16)
    stream = add_noise(np.concatenate([gap, speech, gap]), -60.0, seed=13)
    segmenter = UtteranceSegmenter(window=0.2)
    fed, ended = 0, []
    for chunk in frames(stream, 0.02):
        fed += len(chunk)
        ended += [fed] * len(segmenter.feed(chunk))
    assert len(ended) == 1
    assert (ended[0] - len(gap) - len(speech)) / RATE < 0.2 + 0.08


def test_please_after_an_early_answer_is_not_a_new_utterance(audio_cache: Path) -> None:
    """"cancel Moon Garden ... please": the command is answered at the pause; the "please"
    after it is neither a second command nor a "didn't catch that"."""
    assert _said_with_a_pause("cancel moon garden", "please", 0.25, audio_cache) == [
        ("cancel_project", {"project": "Moon Garden"})]
