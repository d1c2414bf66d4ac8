"""The text path: typed commands, generated grammar/dictionary/help from the one table."""

from __future__ import annotations

import pocketsphinx
import pytest

from worker.jason import grammar
from worker.jason.commands import BY_NAME, COMMANDS, help_text, slot_vocabulary
from worker.jason.parser import parse
from worker.jason.pronounce import HMM_DIR, dictionary_lines, espeak_to_arpa

PROJECTS = ["Moon Garden", "My Web App", "shop2"]
TEMPLATES = ["persona/basic"]

TYPED = [
    ("Hey Jason, what's the status of moon garden?", "status_project", {"project": "Moon Garden"}),
    ("STATUS", "status_all", {}),
    ("how is everything going", "status_all", {}),
    ("please cancel My Web App", "cancel_project", {"project": "My Web App"}),
    ("jason, show me the logs!", "show_tab", {"tab": "logs"}),
    ("go to the progress tab", "show_tab", {"tab": "progress"}),
    ("open the output of moon garden", "open_output", {"project": "Moon Garden"}),
    ("how are sales this week?", "sales", {"period": "this week"}),
    ("how are sales", "sales", {"period": "today"}),
    ("sales overall", "sales", {"period": "total"}),
    ("Create project Sun Tower using persona basic", "create_project",
     {"project": "Sun Tower", "template": "persona/basic"}),
    ("create a new persona/basic project called Blue Bird", "create_project",
     {"project": "Blue Bird", "template": "persona/basic"}),
    # natural phrasings: no template (the default), or the template's family name alone
    ("create a project called moon garden", "create_project", {"project": "Moon Garden"}),
    ("create a project called moon garden with the persona template", "create_project",
     {"project": "Moon Garden", "template": "persona/basic"}),
    ("create a project called Sun Tower using the persona template", "create_project",
     {"project": "Sun Tower", "template": "persona/basic"}),
    ("create a project called sun tower using persona basic", "create_project",
     {"project": "Sun Tower", "template": "persona/basic"}),
    ("create a project called sun tower please", "create_project", {"project": "Sun Tower"}),
    ("create a project called Sun Tower using the fancy template", "create_project",
     {"project": "Sun Tower", "template": "fancy"}),  # unknown: the brain says so
    ("how is shop 2 doing", "status_project", {"project": "shop2"}),
    ("what's failing", "whats_failing", {}),
    ("read me the last error", "last_error", {}),
    ("retry all failed jobs please", "retry_failed", {}),
    ("pause the worker", "pause_worker", {}),
    ("resume workers", "resume_worker", {}),
    ("restart the worker", "restart_worker", {}),
    ("give me a summary", "summary", {}),
    ("approve my web app", "approve_project", {"project": "My Web App"}),
    ("reject Moon Garden.", "reject_project", {"project": "Moon Garden"}),
    ("what can you do?", "help", {}),
    ("yes", "confirm_yes", {}),
    ("Yes, please", "confirm_yes", {}),
    ("no thanks", "confirm_no", {}),
    ("never mind", "confirm_no", {}),
    ("status of Unknown Thing", "status_project", {"project": "Unknown Thing"}),
]


@pytest.mark.parametrize(("text", "command", "slots"), TYPED)
def test_typed_commands(text: str, command: str, slots: dict[str, str]) -> None:
    result = parse(text, PROJECTS, TEMPLATES)
    assert (result.command, result.slots) == (command, slots)
    assert result.to_json() == {"command": command, "slots": slots, "text": text}


@pytest.mark.parametrize("text", ["what's the weather like", "tell me a joke", "", "!!!"])
def test_non_commands_are_rejected_with_suggestions(text: str) -> None:
    result = parse(text, PROJECTS, TEMPLATES)
    assert result.command is None
    assert result.to_json()["command"] is None


def test_decoder_output_with_filler_words_is_not_a_command() -> None:
    # Typed, "can you" is politeness; decoded, it is words the voice grammar never allows (a
    # language-model decode of "can you pass the salt" came out as "can you cancel that").
    assert parse("can you cancel that").command == "confirm_no"
    assert parse("can you cancel that", strict=True).command is None
    assert parse("cancel that", strict=True).command == "confirm_no"


def test_rejection_suggests_the_closest_commands() -> None:
    result = parse("what's the statos of moon garden", PROJECTS, TEMPLATES)
    assert result.command is None
    assert "status of Moon Garden" in result.suggestions


def test_destructive_commands_need_confirmation() -> None:
    destructive = {c.name for c in COMMANDS if c.destructive}
    assert {"cancel_project", "restart_worker", "retry_failed", "reject_project"} <= destructive
    assert parse("cancel moon garden", PROJECTS).destructive
    assert not parse("status", PROJECTS).destructive


def test_help_lists_every_command_except_confirmations() -> None:
    text = help_text()
    for cmd in COMMANDS:
        if not cmd.name.startswith("confirm_"):
            assert cmd.help in text
    assert parse("help").command == "help"


def test_generated_grammar_loads_and_every_word_has_a_pronunciation(tmp_path) -> None:
    vocab = slot_vocabulary([*PROJECTS, "Zorblax"], TEMPLATES)
    words = grammar.words(vocab)
    # a multi-word name is one decoder word: the LM cannot splice "my web garden"
    assert {"moon_garden", "my_web_app", "zorblax", "persona_basic", "status"} <= words
    assert "garden" not in words
    lines = dictionary_lines(words)
    assert "moon_garden M UW N G AA R D AH N" in lines  # its parts' pronunciations in turn
    assert {line.split()[0] for line in lines} >= words  # everything pronounceable
    (tmp_path / "d.dict").write_text("\n".join(lines) + "\n")
    (tmp_path / "c.lm").write_text(grammar.arpa(vocab))
    decoder = pocketsphinx.Decoder(hmm=HMM_DIR, dict=str(tmp_path / "d.dict"), lm=None,
                                   loglevel="FATAL")
    decoder.add_jsgf_string("g", grammar.jsgf(vocab))  # raises if the grammar is malformed
    decoder.add_lm_file("lm", str(tmp_path / "c.lm"))
    assert decoder.lookup_word("zorblax")


def test_no_projects_yet_leaves_project_commands_out_of_the_grammar() -> None:
    jsgf = grammar.jsgf(slot_vocabulary([], TEMPLATES))
    assert "<status_project>" not in jsgf and "<status_all>" in jsgf


def test_espeak_phonemes_map_to_arpabet() -> None:
    assert espeak_to_arpa("t 'aI t @ n") == "T AY T AH N"
    assert espeak_to_arpa("w '3: k 3", rhotic=False) == "W ER K AH"
    assert BY_NAME["show_tab"].slots == {"tab": "tab"}


def test_typed_only_phrases_work_in_the_chat_but_not_by_voice() -> None:
    """"hold the workers" and "how are we doing" are left out of the voice grammar (spoken, they
    were misheard or pulled in everyday speech) but still work when typed."""
    assert parse("hold the workers").command == "pause_worker"
    assert parse("How are we doing?").command == "status_all"
    assert parse("hold the workers", strict=True).command is None  # a decoder's words
    vocab = slot_vocabulary(PROJECTS, TEMPLATES)
    assert "hold" not in grammar.words(vocab) and "hold" not in grammar.jsgf(vocab)
    assert "are we doing" not in grammar.arpa(vocab)  # no trigram of it in the LM


@pytest.mark.parametrize("text", ["¹", "status of app²", "x³ y", "٣ projects"])
def test_digits_that_are_not_plain_numbers_do_not_break_the_parser(text: str) -> None:
    """Superscripts are digits to str.isdigit but not numbers to int() (found by the API fuzz:
    POST /api/jason/ask {"text": "¹"} answered 500); decimal digits of any script still read."""
    understood = parse(text, ["App"], [])
    assert understood.text == text
