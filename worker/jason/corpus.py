"""A synthetic speech corpus of Jason's commands, for the tests, the benchmark and self-checks.

Every command is rendered from its phrases with realistic slot values, spoken by espeak-ng in
several voices and rates, with faint noise added (synthetic speech has digitally silent gaps that
a microphone never delivers, and they hurt the decoder).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worker.jason.audio import RATE, Int16, add_noise, load_wav, save_wav
from worker.jason.commands import COMMANDS, Command, slot_vocabulary, tokens
from worker.jason.grammar import usable_phrases

PROJECTS = ("Moon Garden", "My Web App", "Titan Shop", "Zorblax")  # "Zorblax": not in CMUdict
TEMPLATES = ("persona/basic", "landing/page")
NEW_PROJECTS = ("Blue Harbor", "Sunny Side")
VOICES = ("en-us", "en-gb", "en-us+f3")
RATES = (140, 175, 210)

NON_COMMANDS = (
    "what is the weather like today",
    "play some relaxing music",
    "set an alarm for seven in the morning",
    "i need to buy milk and bread",
    "send an email to my boss",
    "what time is it in tokyo",
    "tell me a funny joke",
    "the garden looks lovely in the moonlight",
    "turn off the lights in the kitchen",
    "call my mother tomorrow evening",
    "let us go for a walk in the park",
    "the deadline is next friday",
    "where did i leave my keys",
    "order a large pizza with extra cheese",
    "remind me to water the plants",
    "who won the football game last night",
    "translate this sentence into french",
    "it is raining again outside",
    "book a table for two at eight",
    "my computer is running very slowly",
    "the meeting starts at noon",
    "how old is the universe",
)

# Written after the recognizer was tuned on NON_COMMANDS, to see whether its rejection holds on
# sentences it was not tuned on; many sound close to commands ("pause the music", "open the
# front door"). The benchmark reports how many get through; the tests cannot require none,
# because some do (see bench/README.md).
HELD_OUT_NON_COMMANDS = (
    "can you pass the salt please",
    "i think we should paint the fence blue",
    "the cat is sleeping on the sofa",
    "how are you doing today",
    "pause the music",
    "open the window please",
    "show me a picture of a dog",
    "what is the capital of france",
    "cancel my dentist appointment",
    "restart the computer",
    "the sales team meets on monday",
    "the garden needs more water",
    "go to the store and buy some eggs",
    "what is the status of my order",
    "why is the sky blue",
    "my web browser keeps crashing",
    "retry the password later",
    "how is your mother doing",
    "the project was finished last year",
    "hold the door for me",
    "give me a glass of water",
    "switch off the television",
    "help me carry these boxes",
    "tell me about the moon",
    "what happened to the old bridge",
    "start the car and warm it up",
    "the worker fixed the roof",
    "how were your holidays",
    "show me the way home",
    "open the front door",
)


@dataclass(frozen=True)
class Sample:
    command: str
    slots: dict[str, str]
    text: str


def render(cmd: Command, phrase: str, variant: int) -> Sample:
    """One spoken instance of a phrase; ``variant`` rotates optional words, choices and fillers."""
    vocab = slot_vocabulary(PROJECTS, TEMPLATES, NEW_PROJECTS)
    words: list[str] = []
    slots = dict(cmd.defaults)
    for i, tok in enumerate(tokens(phrase)):
        if tok.optional and (variant + i) % 2:
            continue
        if tok.slot:
            st = cmd.slots.get(tok.slot, tok.slot)
            pool = NEW_PROJECTS if st == "new_project" else sorted(vocab[st].items())
            if st == "new_project":
                value = spoken_value = pool[variant % len(pool)]
            else:
                spoken_value, value = pool[variant % len(pool)]  # type: ignore[str-unpack]  # (spoken, value) pairs
            words.append(str(spoken_value))
            slots[tok.slot] = str(value)
        else:
            words.append(tok.words[variant % len(tok.words)])
    return Sample(cmd.name, slots, " ".join(words).replace("/", " "))


def command_samples(per_phrase: int = 1) -> list[Sample]:
    vocab = slot_vocabulary(PROJECTS, TEMPLATES, NEW_PROJECTS)
    out = []
    for cmd in COMMANDS:
        for p, phrase in enumerate(usable_phrases(cmd, vocab)):
            for v in range(per_phrase):
                out.append(render(cmd, phrase, p + v))
    return out


def synthesize(text: str, voice: str = "en-us", rate: int = 175) -> bytes:
    """espeak-ng -> WAV bytes (22.05 kHz mono)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    return subprocess.run([exe, "-v", voice, "-s", str(rate), "--stdout", text],
                          capture_output=True, check=True, timeout=60).stdout


def spoken_audio(text: str, voice: str, rate: int, cache: Path | None = None,
                 noise_dbfs: float = -60.0, pad_seconds: float = 0.3) -> Int16:
    """16 kHz int16 audio of ``text``, with faint noise, cached as WAV in ``cache``."""
    spec = f"{text}|{voice}|{rate}|{noise_dbfs}|{pad_seconds}"
    key = hashlib.sha1(spec.encode()).hexdigest()[:16]
    path = cache / f"{key}.wav" if cache else None
    if path and path.exists():
        return load_wav(path)
    seed = int(key[:8], 16)
    # A microphone recording has room tone around the words; espeak's output starts and stops
    # on the first/last phoneme, which leaves the grammar search no final silence to end in.
    pad = np.zeros(int(RATE * pad_seconds), np.int16)
    speech = np.concatenate([pad, load_wav(synthesize(text, voice, rate)), pad])
    audio = add_noise(speech, noise_dbfs, seed=seed)
    if path:
        save_wav(path, audio)
    return audio
