"""Jason's stricter ears: near-command sentences are rejected, and a new project's name is heard
by Whisper (the open-vocabulary names decoder), read back, and can be corrected or spelled.

Real espeak-ng audio through the real recognizer (its child decoders and phone loop), and the
brain against a real database.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from worker.config import Settings
from worker.db.engine import Database
from worker.jason import corpus
from worker.jason.audio import RATE, add_noise, quiet_edges, rms_dbfs
from worker.jason.brain import Jason
from worker.jason.commands import spoken
from worker.jason.parser import Parse, parse
from worker.jason.recognizer import Recognizer

NEAR_COMMANDS = ("restart the computer please", "cancel my dentist appointment",
                 "show me the money")


@pytest.mark.parametrize("sentence", NEAR_COMMANDS)
def test_near_command_sentences_are_rejected_by_voice(sentence: str, recognizer: Recognizer,
                                                      audio_cache: Path) -> None:
    for voice in corpus.VOICES:
        result = recognizer.decode(corpus.spoken_audio(sentence, voice, 175, audio_cache))
        assert result.command is None, (voice, result)


# "... of my order" / "how is the garden": the grammar hears a known project (Moon Garden) where
# a noun phrase was said, and the phone loop bears the name out; Whisper writes what was said.
NAME_LIKE = (("what is the status of my order", "en-us", 140),
             ("what is the status of my order", "en-us", 175),
             ("what is happening with the weather", "en-gb", 175),
             ("how is my grandmother doing", "en-us+f3", 175),
             ("what is happening with my car", "en-us+f3", 175))


def test_a_sentence_about_something_else_is_not_a_command_about_a_project(
        recognizer: Recognizer, audio_cache: Path) -> None:
    """Each of these was "status of Moon Garden" (or My Web App) before Whisper had to bear
    the project's name out; the commands that name a project are still heard (test_recognizer
    covers them all)."""
    for sentence, voice, rate in NAME_LIKE:
        result = recognizer.decode(corpus.spoken_audio(sentence, voice, rate, audio_cache))
        assert result.command is None, (sentence, voice, result)
    for said, project in (("what is happening with moon garden", "Moon Garden"),
                          ("status of my web app", "My Web App")):
        result = recognizer.decode(corpus.spoken_audio(said, "en-us", 175, audio_cache))
        assert result.slots.get("project") == project, (said, result)


@pytest.mark.parametrize("sentence", NEAR_COMMANDS)
def test_near_command_sentences_are_rejected_when_typed(sentence: str) -> None:
    result = parse(sentence, list(corpus.PROJECTS), list(corpus.TEMPLATES))
    assert result.command is None, result
    assert result.suggestions  # "Did you mean ...?"


def test_an_unknown_typed_name_that_is_a_real_name_still_reaches_the_brain() -> None:
    """Only names that start like everyday speech ("my dentist ...") are refused: "status of
    Quartz Lagoon" is still a command, and the brain says it knows no such project."""
    result = parse("status of Quartz Lagoon", list(corpus.PROJECTS), list(corpus.TEMPLATES))
    assert (result.command, result.slots) == ("status_project", {"project": "Quartz Lagoon"})


def test_the_command_still_explains_a_command_said_with_please(recognizer: Recognizer,
                                                               audio_cache: Path) -> None:
    for voice in corpus.VOICES:
        result = recognizer.decode(corpus.spoken_audio("restart the worker please", voice, 175,
                                                       audio_cache))
        assert result.command == "restart_worker", (voice, result)


async def test_a_new_name_by_voice_is_read_back_never_replaced_by_a_known_one(
        recognizer: Recognizer, audio_cache: Path, settings: Settings, db: Database) -> None:
    """The grammar knows only existing names: it hears "sunflower bakery" as one of them.
    Whisper hears the name (not always right: hence the read-back), the parse asks for a
    read-back, and Jason reads that name back and creates nothing yet."""
    known = {spoken(n) for n in (*corpus.PROJECTS, *corpus.NEW_PROJECTS)}
    audio = corpus.spoken_audio("create a project called sunflower bakery using persona basic",
                                "en-us", 175, audio_cache)
    result = recognizer.decode(audio)
    assert result.command == "create_project" and result.read_back, result
    assert result.slots["template"] == "persona/basic"
    assert spoken(result.slots["project"]) not in known
    assert result.to_json()["readBack"] is True
    question = await Jason(db, settings).handle(result)
    assert question.awaiting_confirmation
    assert question.text.startswith(
        f"Create {result.slots['project']} with the persona basic template?")
    assert await _names(db) == []


# Names whose "create a project called ..." left the grammar search with no path at all in
# the tuning voices (it ends in a project name it knows, and these fit none).
UNFINISHED = ("Thunder Road", "Silent Harbor", "Quartz Lagoon", "Crimson Tide", "Velvet Rope",
              "Bright Star")


def test_a_new_name_the_grammar_cannot_follow_is_still_read_back(
        recognizer: Recognizer, audio_cache: Path) -> None:
    """"create a project called thunder road": the command LM hears the lead-in, Whisper the
    name after it, and Jason asks, rather than answering "Sorry, I didn't catch that"."""
    known = {spoken(n) for n in (*corpus.PROJECTS, *corpus.NEW_PROJECTS)}
    asked, acted = 0, []
    for name in UNFINISHED:
        for voice in ("en-us", "en-gb"):
            audio = corpus.spoken_audio(f"create a project called {name.lower()}", voice, 175,
                                        audio_cache)
            result = recognizer.decode(audio)
            if result.command == "create_project" and result.read_back:
                asked += 1
                assert spoken(result.slots["project"]) not in known, (name, voice, result)
                assert "template" not in result.slots  # the default, as the read-back says
            elif result.command is not None:
                acted.append((name, voice, result))
    assert not acted  # never a known name, never without asking
    # 10 of 12 where this was written (4 when only the grammar's words led to Whisper)
    assert asked >= 8, f"{asked}/12 read back"


def test_a_correction_by_voice_carries_the_new_name(recognizer: Recognizer,
                                                    audio_cache: Path) -> None:
    audio = corpus.spoken_audio("no call it sunflower bakehouse", "en-gb", 175, audio_cache)
    assert not recognizer.decode(audio).read_back  # no name was read back: no correction
    recognizer.expect_name("Sunflower Gregory")  # what the desk says while Jason waits
    try:
        result = recognizer.decode(audio)
    finally:
        recognizer.expect_name(None)
    assert result.command == "name_correction" and result.read_back, result
    assert result.slots["project"].startswith("Sunflower")


async def test_a_new_name_by_voice_read_back_then_yes_creates_it(
        recognizer: Recognizer, audio_cache: Path, settings: Settings, db: Database) -> None:
    """Whisper hears a name no grammar knows; Jason reads it back and creates it on "yes"."""
    audio = corpus.spoken_audio("create a project called wild horse using persona basic",
                                "en-us", 175, audio_cache)
    heard = recognizer.decode(audio)
    assert (heard.command, heard.slots, heard.read_back) == (
        "create_project", {"project": "Wild Horse", "template": "persona/basic"}, True), heard
    jason = Jason(db, settings)
    question = await jason.handle(heard)
    assert question.text.startswith("Create Wild Horse with the persona basic template?")
    assert await _names(db) == []
    done = await jason.ask("yes")
    assert done.command == "create_project" and "Creating Wild Horse" in done.text
    assert await _names(db) == ["Wild Horse"]


async def test_a_misheard_name_corrected_by_voice(recognizer: Recognizer, audio_cache: Path,
                                                  settings: Settings, db: Database) -> None:
    """The person says "no, call it ..." with the same words again: the name Jason read back
    and the person refused is never read back a second time; Whisper's next guess is."""
    jason = Jason(db, settings)
    said = "create a project called apple orchard using the persona template"
    first = recognizer.decode(corpus.spoken_audio(said, "en-gb", 175, audio_cache))
    assert first.command == "create_project" and first.read_back, first
    await jason.handle(first)
    recognizer.expect_name(first.slots["project"])  # the desk does this on Jason's reply
    try:
        again = recognizer.decode(corpus.spoken_audio("no, call it apple orchard", "en-gb", 175,
                                                      audio_cache))
    finally:
        recognizer.expect_name(None)
    assert again.command == "name_correction" and again.read_back, again
    assert again.slots["project"] != first.slots["project"]
    assert again.slots["project"] == "Apple Orchard"
    question = await jason.handle(again)
    assert question.text.startswith("Create Apple Orchard with the persona basic template?")
    assert (await jason.ask("yes")).command == "create_project"
    assert await _names(db) == ["Apple Orchard"]


def test_the_same_words_again_never_give_back_the_refused_name(recognizer: Recognizer,
                                                               audio_cache: Path) -> None:
    audio = corpus.spoken_audio("create a project called bright star", "en-us", 175, audio_cache)
    first = recognizer.decode(audio)
    assert first.read_back, first
    recognizer.expect_name(first.slots["project"])
    try:
        second = recognizer.decode(corpus.spoken_audio("call it bright star", "en-us", 175,
                                                       audio_cache))
    finally:
        recognizer.expect_name(None)
    assert second.command == "name_correction", second
    assert second.slots["project"] != first.slots["project"]


async def _names(db: Database) -> list[str]:
    async with db.session() as s:
        return list((await s.execute(text("SELECT name FROM projects ORDER BY id"))).scalars())


async def test_read_back_then_correction_then_yes_creates_the_corrected_name(
        settings: Settings, db: Database) -> None:
    jason = Jason(db, settings)
    heard = Parse("create_project", {"project": "Sunflower Gregory", "template": "persona/basic"},
                  "create a project called sunflower gregory using persona basic", read_back=True)
    question = await jason.handle(heard)
    assert question.awaiting_confirmation
    assert question.text.startswith("Create Sunflower Gregory with the persona basic template?")
    assert await _names(db) == []  # nothing before the person agrees
    again = await jason.ask("no, call it Sunflower Bakehouse")
    assert again.awaiting_confirmation
    assert again.text.startswith("Create Sunflower Bakehouse with the persona basic template?")
    done = await jason.ask("yes")
    assert done.command == "create_project" and "Creating Sunflower Bakehouse" in done.text
    assert await _names(db) == ["Sunflower Bakehouse"]


async def test_a_spelled_name_corrects_the_read_back(settings: Settings, db: Database) -> None:
    jason = Jason(db, settings)
    await jason.handle(Parse("create_project", {"project": "Warts Lagoon"}, "", read_back=True))
    again = await jason.ask("q u a r t z")
    assert again.text.startswith("Create Quartz with the persona basic template?")
    spelled = await jason.ask("call it q u a r t z lagoon")
    assert spelled.text.startswith("Create Quartz Lagoon with")
    assert (await jason.ask("no")).text == "All right, I won't."
    assert await _names(db) == []
    # with nothing read back, a correction does nothing
    assert (await jason.ask("call it Sunflower")).text == \
        "There is no name waiting for a correction."


# Tuned commands at 210 / 230 wpm in white noise 20 dB under the speech, in the tuning voices:
# both decoders heard them right, and the phone loop's drifting sounds left one word
# unexplained. Where this was written: 7 of 8 heard, 2 before Whisper vouched for the word.
NOISY = (("read the last error", "en-gb", 230), ("last error", "en-gb", 230),
         ("abort project my web app", "en-gb", 230), ("accept project my web app", "en-gb", 230),
         ("what is the status", "en-gb", 230), ("titan shop status", "en-us", 210),
         ("open the output of moon garden", "en-us", 210),
         ("give me a status report", "en-us+f3", 210))


def _in_noise(audio: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    head, tail = (int(q * RATE) for q in quiet_edges(audio))
    words = audio[head:len(audio) - tail]
    return add_noise(audio, rms_dbfs(words) - snr_db, seed=seed)


def test_whisper_vouches_for_words_the_phone_loop_lost_in_noise(
        recognizer: Recognizer, audio_cache: Path) -> None:
    """Fast speech in louder noise: a command is heard when Whisper wrote each word the phone
    loop did not bear out; what it hears is never another command."""
    right, wrong = 0, []
    for seed, (said, voice, rate) in enumerate(NOISY):
        expected = parse(said, list(corpus.PROJECTS), list(corpus.TEMPLATES))
        audio = _in_noise(corpus.spoken_audio(said, voice, rate, audio_cache), 20.0, seed)
        result = recognizer.decode(audio)
        if (result.command, result.slots) == (expected.command, expected.slots):
            right += 1
        elif result.command is not None:
            wrong.append((said, voice, result))
    assert not wrong
    assert right >= 5, f"{right}/{len(NOISY)} heard"
