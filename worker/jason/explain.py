"""Is every word that carries meaning explained by the command heard?

The grammar decoder maps any speech onto some command ("restart the computer please" ->
"restart the worker please"), and the command LM only knows command words, so the two agree on
near-command sentences. A third decoder that knows no words at all, a free phone loop
(pocketsphinx's ``allphone`` search, ~0.1 s of CPU per utterance), says what sounds were
there: "S T AA R T M AH K UW P Y UW ER P L IY Z". The command's words, as phones, are aligned
with that; a content word whose stretch of sounds is mostly something else ("worker" against
"computer"), or a run of sounds between words that no word of the command covers ("cancel
[my dentist appointment]" heard as "cancel moon garden") means the command does not explain
the utterance, and it is rejected. Function words ("the", "my", "please") need no explaining.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.jason.commands import FUNCTION_WORDS

VOWELS = frozenset(("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY",
                    "UH", "UW"))
# Sounds the phone loop confuses all the time cost half a substitution.
_NEAR = [frozenset(g.split()) for g in (
    "P B", "T D", "K G", "F V", "TH DH", "S Z", "SH ZH", "CH JH", "M N NG", "L R W", "Y IY",
    "HH")]
NOT_SPEECH = frozenset({"SIL", "+NSN+", "+SPN+", "+BREATH+", "+NOISE+"})
# A content word is unexplained when more than this share of its phones had to be edited;
# a gap of this many sounds that no word covers is speech the command does not explain.
# Chosen on the tuning set (corpus.NON_COMMANDS, the commands in corpus.VOICES).
MAX_WORD_ERROR = 0.75
MAX_GAP_PHONES = 4


@dataclass(frozen=True)
class Explanation:
    unexplained: tuple[str, ...]  # content words the sounds do not support
    gap: int  # the longest run of sounds between or around words that nothing covers
    # Per word: the first and last heard phone aligned with it (None: no phone was).
    spans: tuple[tuple[int, int] | None, ...] = ()
    # Per word: its edits and its phones (the share edited is how unlike the sounds it is).
    errors: tuple[tuple[float, int], ...] = ()

    @property
    def ok(self) -> bool:
        return not self.unexplained and self.gap <= MAX_GAP_PHONES


def _sub_cost(a: str, b: str) -> float:
    if a == b:
        return 0.0
    if (a in VOWELS) == (b in VOWELS) and (a in VOWELS or any(a in g and b in g for g in _NEAR)):
        return 0.5
    return 1.0


def explain(words: list[tuple[str, list[str]]], heard: list[str]) -> Explanation:
    """``words``: the command's words, each with its phones (ARPAbet, as in the dictionary);
    ``heard``: the phone loop's phones, without silences (``NOT_SPEECH``). Weighted edit
    alignment; edits are charged to the word
    whose phones they fall in, insertions between words to the gap there."""
    expected: list[tuple[str, int]] = []  # (phone, index of its word)
    for i, (_, phones) in enumerate(words):
        expected += [(p, i) for p in phones]
    n, m = len(expected), len(heard)
    inf = float("inf")
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    back: list[list[str]] = [[""] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    for i in range(n + 1):
        for j in range(m + 1):
            c = cost[i][j]
            if c == inf:
                continue
            if i < n and j < m:
                s = c + _sub_cost(expected[i][0], heard[j])
                if s < cost[i + 1][j + 1]:
                    cost[i + 1][j + 1], back[i + 1][j + 1] = s, "s"
            if i < n and c + 1 < cost[i + 1][j]:
                cost[i + 1][j], back[i + 1][j] = c + 1, "d"
            if j < m and c + 1 < cost[i][j + 1]:
                cost[i][j + 1], back[i][j + 1] = c + 1, "i"
    errors = [0.0] * len(words)
    spans: list[tuple[int, int] | None] = [None] * len(words)

    def cover(word: int, phone: int) -> None:
        span = spans[word]
        spans[word] = (phone, phone) if span is None else (min(span[0], phone),
                                                            max(span[1], phone))
    gaps: dict[int, int] = {}  # word index the insertion follows (-1: before all) -> phones
    i, j = n, m
    while i or j:
        step = back[i][j]
        if step == "s":
            errors[expected[i - 1][1]] += _sub_cost(expected[i - 1][0], heard[j - 1])
            cover(expected[i - 1][1], j - 1)
            i, j = i - 1, j - 1
        elif step == "d":
            errors[expected[i - 1][1]] += 1
            i -= 1
        else:
            after = expected[i - 1][1] if i else -1
            # inside a word (both neighbours the same word): the word's own error
            if 0 < i < n and expected[i][1] == after:
                errors[after] += 1
                cover(after, j - 1)
            else:
                gaps[after] = gaps.get(after, 0) + 1
            j -= 1
    unexplained = tuple(
        word for (word, phones), err in zip(words, errors, strict=True)
        if word not in FUNCTION_WORDS and phones and err / len(phones) > MAX_WORD_ERROR)
    return Explanation(unexplained, max(gaps.values(), default=0), tuple(spans),
                       tuple((err, len(phones)) for (_, phones), err in zip(words, errors,
                                                                            strict=True)))
