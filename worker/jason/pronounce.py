"""Pronunciations (CMU/ARPAbet phones) for the decoder's dictionary.

pocketsphinx cannot guess how a new word sounds, and project names ("Zorblax", "Moonly") are
often not in CMUdict. Order of preference: CMUdict (shipped with pocketsphinx), espeak-ng's own
phonemes (``espeak-ng -x``) mapped to ARPAbet, and last a letter-by-letter spelling.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from functools import lru_cache

import pocketsphinx

from worker.jason.grammar import JOINER

MODEL_DIR = os.path.join(pocketsphinx.get_model_path(), "en-us")
HMM_DIR = os.path.join(MODEL_DIR, "en-us")
CMUDICT = os.path.join(MODEL_DIR, "cmudict-en-us.dict")

# espeak-ng English phoneme mnemonics -> ARPAbet. Longest names are tried first.
ESPEAK_TO_ARPA: dict[str, str] = {
    "aI@": "AY ER", "aU@": "AW ER", "i@3": "IY R", "A@": "AA R", "O@": "AO R", "o@": "AO R",
    "e@": "EH R", "i@": "IY R", "U@": "UH R", "3:": "ER", "A:": "AA", "O:": "AO", "i:": "IY",
    "u:": "UW", "aI": "AY", "aU": "AW", "eI": "EY", "OI": "OY", "oU": "OW", "@L": "AH L",
    "@2": "AH", "@5": "AH", "a#": "AH", "I#": "IH", "I2": "IH", "aa": "AE", "a2": "AH",
    "tS": "CH", "dZ": "JH", "t#": "T", "d#": "D", "l/": "L", "r-": "R", "n-": "N", "m-": "M",
    "a": "AE", "0": "AA", "V": "AH", "@": "AH", "3": "ER", "E": "EH", "I": "IH", "i": "IY",
    "O": "AO", "U": "UH", "u": "UW", "e": "EH", "o": "OW",
    "p": "P", "b": "B", "t": "T", "d": "D", "k": "K", "g": "G", "f": "F", "v": "V", "T": "TH",
    "D": "DH", "s": "S", "z": "Z", "S": "SH", "Z": "ZH", "h": "HH", "m": "M", "n": "N",
    "N": "NG", "l": "L", "r": "R", "j": "Y", "w": "W", "x": "K", "?": "T", "C": "HH",
}
_KEYS = sorted(ESPEAK_TO_ARPA, key=len, reverse=True)

LETTERS: dict[str, str] = {
    "a": "EY", "b": "B IY", "c": "S IY", "d": "D IY", "e": "IY", "f": "EH F", "g": "JH IY",
    "h": "EY CH", "i": "AY", "j": "JH EY", "k": "K EY", "l": "EH L", "m": "EH M", "n": "EH N",
    "o": "OW", "p": "P IY", "q": "K Y UW", "r": "AA R", "s": "EH S", "t": "T IY", "u": "Y UW",
    "v": "V IY", "w": "D AH B AH L Y UW", "x": "EH K S", "y": "W AY", "z": "Z IY",
}


@lru_cache(maxsize=1)
def cmudict() -> dict[str, list[str]]:
    """word -> pronunciations (first is the main one), read once from pocketsphinx's CMUdict."""
    out: dict[str, list[str]] = {}
    with open(CMUDICT, encoding="utf-8") as f:
        for line in f:
            word, _, phones = line.strip().partition(" ")
            base = word.split("(", 1)[0]
            out.setdefault(base, []).append(phones.strip())
    return out


# In non-rhotic accents (espeak's en-gb) these vowels carry no R: "worker" is W ER K AH.
NON_RHOTIC: dict[str, str] = {
    "3": "AH", "A@": "AA", "O@": "AO", "o@": "AO", "e@": "EH", "i@": "IY AH", "U@": "UH AH",
    "aa": "AA", "i@3": "IY AH",
}
ACCENTS = ("en-us", "en-gb")  # espeak voices asked for pronunciation variants


def espeak_to_arpa(mnemonics: str, rhotic: bool = True) -> str:
    """Map ``espeak-ng -x --sep=' '`` output ("t 'aI t @ n") to ARPAbet ("T AY T AH N")."""
    table = ESPEAK_TO_ARPA if rhotic else {**ESPEAK_TO_ARPA, **NON_RHOTIC}
    phones: list[str] = []
    for tok in mnemonics.split():
        tok = tok.lstrip("',%=")  # stress marks
        while tok:  # greedy: a token may hold several phonemes when espeak doesn't separate
            key = next((k for k in _KEYS if tok.startswith(k)), None)
            if key is None:
                tok = tok[1:]  # unknown mark (stress, length): skip it
                continue
            phones.extend(table[key].split())
            tok = tok[len(key):]
    return " ".join(phones)


_espeak_cache: dict[tuple[str, str], str | None] = {}


def espeak_pronunciations(words: list[str], voice: str = "en-us") -> dict[str, str | None]:
    """ARPAbet for each word as espeak-ng says it in ``voice``: one process for all words."""
    todo = sorted({w for w in words if (w, voice) not in _espeak_cache})
    exe = shutil.which("espeak-ng") or shutil.which("espeak")
    if todo and exe:
        try:
            out = subprocess.run([exe, "-q", "-v", voice, "-x", "--sep= "], input="\n".join(todo),
                                 capture_output=True, text=True, timeout=60, check=True).stdout
            lines = out.strip("\n").split("\n")
        except (OSError, subprocess.SubprocessError):
            lines = []
        if len(lines) != len(todo):  # espeak joined or split lines: ask word by word
            lines = [_espeak_one(exe, w, voice) for w in todo]
        for w, line in zip(todo, lines, strict=True):
            _espeak_cache[(w, voice)] = espeak_to_arpa(line, voice != "en-gb") or None
    return {w: _espeak_cache.get((w, voice)) for w in words}


def _espeak_one(exe: str, word: str, voice: str) -> str:
    try:
        return subprocess.run([exe, "-q", "-v", voice, "-x", "--sep= ", word], capture_output=True,
                              text=True, timeout=10, check=True).stdout.replace("\n", " ")
    except (OSError, subprocess.SubprocessError):
        return ""


def spell(word: str) -> str:
    """Letter-by-letter fallback: 'xq' -> 'EH K S K Y UW'."""
    return " ".join(LETTERS[c] for c in word.lower() if c in LETTERS)


def pronunciations(word: str) -> list[str]:
    """All known pronunciations of a lower-case word; never empty for a word with letters."""
    return pronunciation_table([word])[word]


# Variants neither CMUdict nor espeak-ng gives: an isolated "help" with a dropped or
# near-silent h (common in speech, and espeak's own) was heard as "what failed" / "do not".
EXTRA_PRONUNCIATIONS: dict[str, tuple[str, ...]] = {"help": ("EH L P",)}
COMPOUND_VARIANTS = 8  # pronunciations kept for a multi-word name ("moon_garden")


def pronunciation_table(words: list[str] | set[str]) -> dict[str, list[str]]:
    """word -> pronunciations: CMUdict's, then espeak-ng's US and British variants (so a
    non-rhotic "worker" or an unknown name like "Zorblax" is heard), else a spelling. A
    compound ("moon_garden") is its parts' pronunciations in sequence."""
    words = sorted(set(words))
    compounds = [w for w in words if JOINER in w]
    if compounds:
        simple = [w for w in words if JOINER not in w]
        parts = pronunciation_table({p for w in compounds for p in w.split(JOINER)} | set(simple))
        table: dict[str, list[str]] = {w: parts[w] for w in simple}
        for w in compounds:
            combos = itertools.product(*(parts[p] for p in w.split(JOINER)))
            table[w] = [" ".join(c) for c in itertools.islice(combos, COMPOUND_VARIANTS)]
        return table
    variants = [espeak_pronunciations(words, voice) for voice in ACCENTS]
    table = {}
    for w in words:
        prons = list(cmudict().get(w, []))
        for v in variants:
            p = v.get(w)
            if p and p not in prons:
                prons.append(p)
        prons += [p for p in EXTRA_PRONUNCIATIONS.get(w, ()) if p not in prons]
        table[w] = prons or [spell(w) or "AH"]
    return table


def dictionary_lines(words: set[str] | list[str]) -> list[str]:
    """Lines of a pocketsphinx dictionary file (``word PH ON ES``, ``word(2) ...``)."""
    lines = []
    for word, prons in sorted(pronunciation_table(words).items()):
        for i, phones in enumerate(prons):
            lines.append(f"{word}{'' if i == 0 else f'({i + 1})'} {phones}")
    return lines
