"""Typed text (or a decoder's word string) -> command + slots, from the command table.

Tolerant of case, punctuation, contractions and filler words ("hey Jason, please ..."). Project
names are matched against the known projects first; a typed name Jason doesn't know yet is still
returned (free text) so the caller can answer "I don't know a project called ...".
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from worker.jason.commands import (
    BY_NAME,
    COMMANDS,
    FILLERS,
    NOT_A_NAME_START,
    SLOT_INTRODUCERS,
    phrase_example,
    slot_vocabulary,
    spoken,
    tokens,
    words_of,
)
from worker.jason.grammar import Vocab

FREE_SLOTS = ("project", "new_project", "template")  # may be free text when typed
# Typed politeness after a trailing free-text name is not part of it ("... Moon Garden please").
TAIL_FILLERS = ("please", "thanks", "thank you", "for me")


@dataclass(frozen=True)
class Parse:
    command: str | None  # None: not a command (rejected)
    slots: dict[str, str] = field(default_factory=dict)
    text: str = ""
    suggestions: tuple[str, ...] = ()  # closest commands, for "Did you mean ...?"
    # A name heard by the open-vocabulary decoder (a new project's): Jason reads it back and
    # waits for "yes", a correction or a spelled name before acting.
    read_back: bool = False

    @property
    def destructive(self) -> bool:
        return bool(self.command) and BY_NAME[self.command].destructive  # type: ignore[index]  # bool() excluded None

    def to_json(self) -> dict[str, Any]:
        if self.command is None:
            return {"command": None, "text": self.text, "suggestions": list(self.suggestions)}
        out: dict[str, Any] = {"command": self.command, "slots": dict(self.slots),
                               "text": self.text}
        if self.read_back:
            out["readBack"] = True
        return out


def _alternation(words: tuple[str, ...]) -> str:
    return "(?:" + "|".join(re.escape(w) + " " for w in words) + ")"


def _phrase_regex(phrase: str, slot_types: dict[str, str], vocab: Vocab, free: bool,
                  typed: bool = False) -> str:
    toks = tokens(phrase)
    present = {tok.slot for tok in toks if tok.slot}
    # Words that would introduce a slot this phrase leaves out end a trailing free-text name.
    stops = [w for slot, st in slot_types.items() if slot not in present
             for w in SLOT_INTRODUCERS.get(st, ())]
    parts = []
    for i, tok in enumerate(toks):
        if tok.slot:
            st = slot_types.get(tok.slot, tok.slot)
            if (free and st in FREE_SLOTS) or st == "new_project":
                last = i == len(toks) - 1
                word = rf"(?!{_alternation(tuple(stops))})\S+ " if stops and last else r"\S+ "
                body = rf"(?P<{tok.slot}>(?:{word})+?)"
                if last and typed:
                    body += f"{_alternation(TAIL_FILLERS)}*"
            elif vocab.get(st):
                forms = sorted(vocab[st], key=len, reverse=True)
                body = f"(?P<{tok.slot}>{_alternation(tuple(forms))})"
            else:
                return ""  # no filler for this slot: the phrase can't match
        else:
            body = _alternation(tok.words)
        parts.append(f"(?:{body})?" if tok.optional else body)
    return "".join(parts)


@lru_cache(maxsize=16)
def _compiled(key: tuple[tuple[str, ...], ...], free: bool,
              typed: bool) -> list[tuple[str, re.Pattern[str]]]:
    vocab = slot_vocabulary(*key)
    out = []
    for cmd in COMMANDS:
        for phrase in (*cmd.phrases, *cmd.typed) if typed else cmd.phrases:
            rx = _phrase_regex(phrase, cmd.slots, vocab, free, typed)
            if rx:
                out.append((cmd.name, re.compile(rx)))
    return out


def _strip_fillers(words: list[str]) -> list[str]:
    fillers = sorted((f.split() for f in FILLERS), key=len, reverse=True)
    out, i, low = [], 0, [w.lower() for w in words]
    while i < len(words):
        for f in fillers:
            if low[i:i + len(f)] == f:
                i += len(f)
                break
        else:
            out.append(words[i])
            i += 1
    return out


def parse(text: str, projects: list[str] | tuple[str, ...] = (),
          templates: list[str] | tuple[str, ...] = (),
          new_projects: list[str] | tuple[str, ...] = (), *, strict: bool = False) -> Parse:
    """Parse typed text. ``strict`` (for decoder output): known slot values only, no
    typed-only phrases, and no filler words ("can you ...", "now"): the voice grammar has none,
    so a language-model decode with them ("can you cancel that" from "can you pass the salt")
    is not a command."""
    key = (tuple(projects), tuple(templates), tuple(new_projects))
    vocab = slot_vocabulary(*key)
    raw = words_of(text)
    variants = [raw] if strict else [raw, _strip_fillers(raw)]
    passes = [False] if strict else [False, True]
    for free in passes:
        for words in variants if not free else variants[::-1]:
            if not words:
                continue
            low = " ".join(w.lower() for w in words) + " "
            orig = " ".join(words) + " "
            if len(orig) != len(low):
                orig = low
            for name, rx in _compiled(key, free, not strict):
                m = rx.fullmatch(low)
                if m and not _names_no_project(name, m, vocab):
                    return Parse(name, _slots(name, m, orig, vocab), text)
    return Parse(None, {}, text, suggest(text, projects, templates))


def _names_no_project(name: str, m: re.Match[str], vocab: Vocab) -> bool:
    """An unknown typed name for an existing project that starts like everyday speech ("cancel
    my dentist appointment", "open the window"): not a command, whatever the phrase."""
    cmd = BY_NAME[name]
    for slot, value in m.groupdict().items():
        if value is None or cmd.slots.get(slot, slot) != "project":
            continue
        spoken_form = value.strip()
        if spoken_form not in vocab.get("project", {}) and \
                spoken_form.split()[0] in NOT_A_NAME_START:
            return True
    return False


def join_spelled(words: list[str]) -> list[str]:
    """Runs of single letters are a spelled word: "s u n f l o w e r bakery" ->
    ["sunflower", "bakery"] (a letter alone stays a word)."""
    out: list[str] = []
    run: list[str] = []
    for w in [*words, ""]:
        if len(w) == 1 and w.isalpha():
            run.append(w)
            continue
        if len(run) > 1:
            out.append("".join(run).lower())
        else:
            out.extend(run)
        run = []
        if w:
            out.append(w)
    return out


def _slots(name: str, m: re.Match[str], orig: str, vocab: Vocab) -> dict[str, str]:
    cmd = BY_NAME[name]
    slots = dict(cmd.defaults)
    for slot, value in m.groupdict().items():
        if value is None:
            continue
        st = cmd.slots.get(slot, slot)
        spoken_form = value.strip()
        known = vocab.get(st, {}).get(spoken_form) or vocab.get("project", {}).get(spoken_form)
        typed = orig[m.start(slot):m.end(slot)].strip()
        if st == "new_project" and not known:
            joined = join_spelled(typed.split())
            # all lower case, as a decoder or a hurried hand writes it, or spelled
            if typed.islower() or joined != typed.split():
                typed = " ".join(w.capitalize() for w in joined)
        slots[slot] = known or typed
    return slots


def suggest(text: str, projects: list[str] | tuple[str, ...] = (),
            templates: list[str] | tuple[str, ...] = (), limit: int = 3) -> tuple[str, ...]:
    """The commands closest to what was said/typed, as example phrases to offer back."""
    said = " ".join(words_of(text)).lower()
    mentioned = [p for p in projects if spoken(p) and spoken(p) in said]
    fill = {"project": (mentioned or list(projects) or ["<project>"])[0],
            "template": (list(templates) or ["<template>"])[0],
            "tab": "logs", "period": "today"}
    scored: dict[str, tuple[float, str]] = {}
    for cmd in COMMANDS:
        for phrase in cmd.phrases:
            example = phrase_example(phrase, fill)
            full = " ".join(tok.words[0] if tok.words else fill.get(tok.slot or "", "")
                            for tok in tokens(phrase))
            score = max(difflib.SequenceMatcher(None, said.split(), s.lower().split()).ratio()
                        for s in (example, full))
            if score > scored.get(cmd.name, (0.0, ""))[0]:
                scored[cmd.name] = (score, example)
    best = sorted(scored.values(), reverse=True)[:limit]
    return tuple(example for score, example in best if score > 0.0)
