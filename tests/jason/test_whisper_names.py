"""How a name is taken from what Whisper heard, and the model file's check (real Whisper tiny.en
from the pinned package; real audio where audio is needed)."""

from __future__ import annotations

import numpy as np
import pytest

from worker.jason import corpus, whisper_names
from worker.jason.audio import add_noise, load_wav
from worker.jason.pronounce import pronunciations
from worker.jason.recognizer import Recognizer
from worker.jason.whisper_names import (
    Guess,
    WhisperNames,
    bears_out,
    choose,
    cut_name,
    without_repeat,
    words_of,
)


def test_the_name_ends_where_the_template_begins() -> None:
    heard = words_of("Lemon Tree, using the Persona template.")
    assert cut_name(heard, ["using", "the", "persona", "template"]) == ["lemon", "tree"]
    # the grammar heard "with" where Whisper heard "using": still cut there
    assert cut_name(heard, ["with", "persona", "template"]) == ["lemon", "tree"]
    # a "called" the grammar missed is not part of the name
    assert cut_name(words_of("called Iron Bridge"), []) == ["iron", "bridge"]
    # nothing after the name: the whole continuation, at most four words
    assert cut_name(words_of("the very long name of a project"), []) == \
        ["the", "very", "long", "name"]


def test_common_words_are_preferred_and_a_refused_name_is_never_chosen() -> None:
    guesses = [Guess("crystalcame", False), Guess("crystal cave", True),
               Guess("crystal game", True)]
    assert choose([guesses]) == "crystal cave"
    assert choose([guesses], {"Crystal Cave"}) == "crystal game"
    assert choose([[Guess("zorblax", False)]]) == "zorblax"  # no common guess: the first
    assert choose([[Guess("a b", True)]], {"a b"}) is None


def test_a_correction_is_weighed_with_the_first_hearing() -> None:
    """"Sunflower Bakery" read back as "Sunflower Mercury"; "no, call it sunflower bakery" is
    heard as "sunflower may carry" (not common words) or Mercury again: the first hearing's
    second guess is the name both hearings support best (Whisper's guesses as it gave them
    for en-gb-x-rp)."""
    first = [Guess("sunflower mercury", True), Guess("sunflower bakery", True),
             Guess("sunflower bay curry", True), Guess("sunflowerberry curry", False)]
    again = [Guess("sunflower may carry", False), Guess("sunflower mercury", True),
             Guess("sunflower may curry", False)]
    refused = {"Sunflower Mercury"}
    assert choose([again], refused) == "sunflower may carry"  # the correction alone
    assert choose([first, again], refused) == "sunflower bakery"
    # A name both hearings place well beats one only the first had; ties go to the request.
    assert choose([[Guess("copper candle", True), Guess("copper kettle", True),
                    Guess("copper cattle", True)],
                   [Guess("copper candle", True), Guess("copper cattle", True)]],
                  {"copper candle"}) == "copper kettle"
    assert choose([[Guess("red fox", True), Guess("bed box", True)],
                   [Guess("bed box", True), Guess("red fox", True)],
                   [Guess("bed box", True)]]) == "bed box"


def _phones(word: str) -> list[str]:
    return pronunciations(word)[0].split()


def test_a_known_name_is_borne_out_only_by_words_that_sound_like_it() -> None:
    """What Whisper wrote where the grammar heard a project's name (its guesses as given for
    the tuning voices): a mishearing of the name bears it out; a noun phrase of its own does
    not, however close its sounds ("the garden" is not "Moon Garden")."""
    assert bears_out(["will garden", "moon garden"], "Moon Garden", _phones)
    assert bears_out(["titan sharp stairs"], "Titan Shop", _phones)  # "status" after the name
    assert bears_out(["might web app"], "My Web App", _phones)
    assert not bears_out(["my package", "my packages"], "Moon Garden", _phones)
    assert not bears_out(["the garden", "my garden", "that garden"], "Moon Garden", _phones)
    assert bears_out(["not done"], "Moon Garden", _phones)  # close enough on its own, but
    assert not bears_out(["the garden", "not done"], "Moon Garden", _phones)  # not after this
    assert not bears_out(["my order", "my origin"], "My Web App", _phones)
    assert not bears_out(["my application"], "My Web App", _phones)  # not "my app..."
    assert not bears_out(["my weather"], "My Web App", _phones)  # "weather" vs "web app"
    assert bears_out(["my wear map"], "My Web App", _phones)
    assert not bears_out(["light", "light status on the"], "Zorblax", _phones)
    assert not bears_out([], "Moon Garden", _phones)


def test_a_sentence_said_again_is_cut_where_it_begins_again() -> None:
    """Whisper reads only the utterance and a second of quiet, and sometimes says it again
    rather than ending it."""
    assert without_repeat(words_of("Open the output on Atlas Forge. Open the output on")) == \
        words_of("Open the output on Atlas Forge")
    assert without_repeat(words_of("Stand the sun-harmable light. Stand the sun-")) == \
        words_of("Stand the sun-harmable light")
    assert without_repeat(words_of("no no no")) == ["no", "no", "no"]
    assert without_repeat(words_of("unposting workers unposting workers unpost")) == \
        ["unposting", "workers"]
    assert without_repeat(words_of("approve it and approve that")) == \
        words_of("approve it and approve that")


def test_a_model_file_that_is_not_the_reviewed_one_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert whisper_names.available()
    monkeypatch.setattr(whisper_names, "MODEL_SHA256", "0" * 64)
    with pytest.raises(ValueError, match="not the reviewed Whisper model"):
        WhisperNames()


def _padded(text: str) -> np.ndarray:
    """Synthesized speech with the quiet margins the recognizer adds (``Recognizer.begin``)."""
    quiet = np.zeros(4800, np.int16)
    return add_noise(np.concatenate([quiet, load_wav(corpus.synthesize(text, "en-us", 175)),
                                     quiet]), -66.0, seed=1)


def test_whisper_hears_a_whole_command_and_a_sentence_as_itself() -> None:
    """The last look's input: a command heard word for word, and a sentence that only sounds
    like one heard as its own words (so it cannot parse as the command)."""
    hearing = WhisperNames()
    assert hearing.transcript(_padded("retry all failed projects")) == \
        ["retry", "all", "failed", "projects"]
    assert hearing.transcript(_padded("what is the status of my order"))[-2:] == ["my", "order"]


def test_jason_keeps_hearing_names_when_the_model_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A model file that is not the reviewed one is never loaded; Jason falls back to the
    pocketsphinx word list for names, and a create command is still a read-back question."""
    monkeypatch.setattr(whisper_names, "MODEL_SHA256", "0" * 64)
    rec = Recognizer(corpus.PROJECTS, corpus.TEMPLATES, corpus.NEW_PROJECTS, parallel=False)
    try:
        audio = load_wav(corpus.synthesize("create a project called wild horse", "en-us", 175))
        rec.decode(audio)  # Whisper refuses to load here
        assert not rec._whisper
        heard = rec.decode(audio)
        assert heard.command == "create_project" and heard.read_back, heard
        assert heard.slots["project"] not in corpus.PROJECTS
    finally:
        rec.close()
