"""Open-vocabulary names: hear a new project's name, which no grammar knows yet.

The command grammar only knows names already in the database, so "create a project called
sunflower bakery" came out as an existing project's name. Here the name's stretch of audio
(found by aligning the command's words with the phone loop, ``explain``) is decoded again by a
decoder whose vocabulary is the commonest words of English (CMUdict words, ranked by
pocketsphinx's general English language model, function words left out), all equally likely.
pocketsphinx's general English model itself, tried on whole sentences and on the name alone,
heard almost no name right ("sunflower bakery" -> "so you've got a bakery") and took 0.5-0.8 s
of CPU; the word list does better but still mishears many names, which is why Jason always reads
a heard name back and takes a correction or a spelling before creating anything.

The word list is made once per machine (``NAME_WORDS`` most likely words; ~8 s) and cached in the
user cache directory.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pocketsphinx

from worker.jason.commands import FUNCTION_WORDS
from worker.jason.pronounce import CMUDICT, HMM_DIR, MODEL_DIR, cmudict

NAME_WORDS = 30000
GENERAL_LM = os.path.join(MODEL_DIR, "en-us.lm.bin")
# Language weight and word insertion penalty of the names decoder (unigram LM).
NAME_DECODER: dict[str, object] = {"lw": 2.0, "wip": 0.05}
MAX_NAME_WORDS = 4


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "titan" / "jason"


def name_words(limit: int = NAME_WORDS) -> list[str]:
    """The ``limit`` most likely content words of English with a CMUdict pronunciation."""
    path = _cache_dir() / f"name-words-{limit}.txt"
    if path.exists():
        return path.read_text(encoding="utf-8").split()
    config = pocketsphinx.Config(hmm=HMM_DIR, lm=None, dict=CMUDICT, loglevel="FATAL")
    model = pocketsphinx.NGramModel(config, pocketsphinx.LogMath(), GENERAL_LM)
    candidates = [w for w in cmudict() if w.isalpha() and len(w) > 1 and w not in FUNCTION_WORDS]
    ranked = sorted(candidates, key=lambda w: (-model.prob([w]), w))[:limit]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(ranked) + "\n", encoding="utf-8")
    tmp.replace(path)
    return ranked


def name_decoder_config(workdir: str) -> dict[str, object]:
    """A decoder for names: the word list as a flat unigram LM, its words' CMUdict phones."""
    words = name_words()
    dict_path, lm_path = os.path.join(workdir, "names.dict"), os.path.join(workdir, "names.lm")
    table = cmudict()
    with open(dict_path, "w", encoding="utf-8") as f:
        for w in words:
            for i, phones in enumerate(table[w]):
                f.write(f"{w}{'' if i == 0 else f'({i + 1})'} {phones}\n")
    each = math.log10(1 / len(words))
    with open(lm_path, "w", encoding="utf-8") as f:
        f.write(f"\\data\\\nngram 1={len(words) + 2}\n\n\\1-grams:\n-99\t<s>\n"
                f"{math.log10(0.3):.4f}\t</s>\n")
        f.writelines(f"{each:.4f}\t{w}\n" for w in words)
        f.write("\n\\end\\\n")
    return {"hmm": HMM_DIR, "dict": dict_path, "lm": lm_path, "samprate": 16000,
            "loglevel": "FATAL", **NAME_DECODER}


def as_name(words: list[str]) -> str:
    """Decoded words -> a project name: "sunflower bakery" -> "Sunflower Bakery"."""
    return " ".join(w.capitalize() for w in words[:MAX_NAME_WORDS])
