"""Generators for the decoder: JSGF grammar, n-gram command language model, word list.

All three come from ``commands.COMMANDS`` plus the current slot vocabulary (project and template
names), so adding a phrase to the table updates voice and text together.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from functools import lru_cache

from worker.jason.commands import (
    COMMANDS,
    SPOKEN_PREFIX,
    SPOKEN_SUFFIX,
    Command,
    Token,
    tokens,
)

Vocab = dict[str, dict[str, str]]  # slot type -> {spoken form: canonical value}
# A slot filler is one dictionary word to the decoders ("moon garden" -> "moon_garden"), with the
# pronunciations of its parts in sequence: the language model then cannot splice names
# ("my web garden" from "my web app" and "moon garden"), nor use a name's pieces elsewhere
# ("show the shop from"). ``hypothesis_words`` splits them again.
JOINER = "_"


def unit(spoken_form: str) -> str:
    """The decoder's single word for a (possibly multi-word) slot filler."""
    return JOINER.join(spoken_form.split())


def usable_phrases(cmd: Command, vocab: Vocab) -> list[str]:
    """Phrases whose slots all have at least one filler (no projects yet -> no project phrases)."""
    out = []
    for phrase in cmd.phrases:
        slot_types = [cmd.slots.get(t.slot, t.slot) for t in tokens(phrase) if t.slot]
        if all(vocab.get(st) for st in slot_types):
            out.append(phrase)
    return out


def jsgf(vocab: Vocab) -> str:
    """The pocketsphinx JSGF grammar: [jason] <one command> [please]."""
    rules: list[str] = []
    names: list[str] = []
    used_slots: set[str] = set()
    for cmd in COMMANDS:
        alts = []
        for phrase in usable_phrases(cmd, vocab):
            parts = []
            for tok in tokens(phrase):
                if tok.slot:
                    st = cmd.slots.get(tok.slot, tok.slot)
                    used_slots.add(st)
                    body = f"<slot_{st}>"
                else:
                    body = " | ".join(tok.words)
                    body = f"({body})" if len(tok.words) > 1 and not tok.optional else body
                parts.append(f"[{body}]" if tok.optional else body)
            alts.append(" ".join(parts))
        if alts:
            names.append(f"<{cmd.name}>")
            rules.append(f"<{cmd.name}> = " + " | ".join(f"({a})" for a in alts) + ";")
    for st in sorted(used_slots):
        fillers = " | ".join(sorted(unit(f) for f in vocab[st]))
        rules.append(f"<slot_{st}> = {fillers};")
    head = ["#JSGF V1.0;", "grammar jason;",
            f"public <command> = [{SPOKEN_PREFIX}] ({' | '.join(names)}) [{SPOKEN_SUFFIX}];"]
    return "\n".join(head + rules) + "\n"


def _word_choices(tok: Token) -> list[tuple[str, ...]]:
    choices = [tuple(w.split()) for w in tok.words]
    return [(), *choices] if tok.optional else choices


def sentences(vocab: Vocab) -> Iterator[list[str]]:
    """Every expansion of every phrase, slots filled round-robin so each filler appears."""
    for _, sent in _keyed_sentences(vocab):
        yield sent


def _keyed_sentences(vocab: Vocab) -> Iterator[tuple[tuple[str, int], list[str]]]:
    for cmd in COMMANDS:
        for p, phrase in enumerate(usable_phrases(cmd, vocab)):
            toks = tokens(phrase)
            choices: list[list[tuple[str, ...] | str]] = []
            for tok in toks:
                if tok.slot:
                    st = cmd.slots.get(tok.slot, tok.slot)
                    choices.append(["", st] if tok.optional else [st])
                else:
                    choices.append(_word_choices(tok))  # type: ignore[arg-type]  # list is invariant
            for combo in itertools.product(*choices):
                slot_types = [c for c in combo if isinstance(c, str) and c]
                rounds = max([len(vocab[st]) for st in slot_types] or [1])
                for i in range(rounds):
                    words: list[str] = []
                    for c in combo:
                        if isinstance(c, str):
                            if c:
                                fills = sorted(vocab[c])
                                words.append(unit(fills[i % len(fills)]))
                        else:
                            words.extend(c)
                    yield (cmd.name, p), words


def _expansions(cmd: Command) -> Iterator[list[str]]:
    """Every way of saying ``cmd``'s phrases, slots as ``{name}``."""
    for phrase in cmd.phrases:
        choices: list[list[tuple[str, ...]]] = []
        for tok in tokens(phrase):
            if tok.slot:
                filled: list[tuple[str, ...]] = [(f"{{{tok.slot}}}",)]
                choices.append([(), *filled] if tok.optional else filled)
            else:
                choices.append(_word_choices(tok))
        for combo in itertools.product(*choices):
            yield [w for part in combo for w in part]


@lru_cache(maxsize=1)
def phrase_prefixes() -> frozenset[tuple[str, ...]]:
    """Every proper prefix of every spoken phrase's expansions, slots as ``{name}``: a command
    heard as one of these may still be going on ("status" -> "status of Moon Garden")."""
    return frozenset(tuple(sent[:n]) for cmd in COMMANDS for sent in _expansions(cmd)
                     for n in range(1, len(sent)))


@lru_cache(maxsize=8)
def words_before_slot(command: str, slot: str) -> frozenset[tuple[str, ...]]:
    """The words that can come before ``slot`` in ``command``'s phrases, when they are all
    plain words ("create a project called" before a new project's name)."""
    return frozenset(tuple(sent[:sent.index(f"{{{slot}}}")])
                     for cmd in COMMANDS if cmd.name == command for sent in _expansions(cmd)
                     if f"{{{slot}}}" in sent
                     and not any(w.startswith("{") for w in sent[:sent.index(f"{{{slot}}}")]))


def words(vocab: Vocab) -> set[str]:
    """Every word the grammar and the language model can produce."""
    out = {SPOKEN_PREFIX, SPOKEN_SUFFIX}
    for cmd in COMMANDS:
        for phrase in cmd.phrases:
            for tok in tokens(phrase):
                for w in tok.words:
                    out.update(w.split())
    for fillers in vocab.values():
        out.update(unit(spoken_form) for spoken_form in fillers)
    return out


PHRASE_WEIGHT = 30.0


def weighted_sentences(vocab: Vocab) -> Iterator[tuple[list[str], float]]:
    """(sentence, weight): every phrase carries the same total weight, however many optional
    words it has, so one-word commands ("help") are not drowned by long phrases' expansions."""
    per_phrase: defaultdict[tuple[str, int], list[list[str]]] = defaultdict(list)
    for key, sent in _keyed_sentences(vocab):
        per_phrase[key].append(sent)
    for sents in per_phrase.values():
        for sent in sents:
            for variant in (sent, [SPOKEN_PREFIX, *sent], [*sent, SPOKEN_SUFFIX]):
                yield variant, PHRASE_WEIGHT / (3 * len(sents))


def arpa(vocab: Vocab, order: int = 3) -> str:
    """An ARPA n-gram language model over the command sentences (interpolated Witten-Bell,
    which works with the fractional counts of ``weighted_sentences``)."""
    counts: list[defaultdict[tuple[str, ...], float]] = [defaultdict(float) for _ in range(order)]
    for sent, weight in weighted_sentences(vocab):
        padded = ["<s>", *sent, "</s>"]
        for n in range(1, order + 1):
            for i in range(len(padded) - n + 1):
                counts[n - 1][tuple(padded[i:i + n])] += weight
    unigrams = {g: c for g, c in counts[0].items() if g != ("<s>",)}
    total = sum(unigrams.values())
    probs: dict[tuple[str, ...], float] = {g: c / total for g, c in unigrams.items()}
    bows: dict[tuple[str, ...], float] = {}
    for n in range(2, order + 1):
        ctx_total: defaultdict[tuple[str, ...], float] = defaultdict(float)
        ctx_types: Counter[tuple[str, ...]] = Counter()
        for g, c in counts[n - 1].items():
            ctx_total[g[:-1]] += c
            ctx_types[g[:-1]] += 1
        for ctx, c in ctx_total.items():
            bows[ctx] = ctx_types[ctx] / (c + ctx_types[ctx])
        for g, c in counts[n - 1].items():
            ctx = g[:-1]
            lower = _backoff(probs, bows, g[1:])
            probs[g] = (c + ctx_types[ctx] * lower) / (ctx_total[ctx] + ctx_types[ctx])

    def log(x: float) -> str:
        return f"{math.log10(x):.5f}"

    by_order: list[list[tuple[str, ...]]] = [[] for _ in range(order)]
    for g in probs:
        by_order[len(g) - 1].append(g)
    out = ["\\data\\", f"ngram 1={len(by_order[0]) + 1}"]
    out += [f"ngram {n}={len(by_order[n - 1])}" for n in range(2, order + 1)]
    for n in range(1, order + 1):
        out += ["", f"\\{n}-grams:"]
        if n == 1:
            out.append(f"-99\t<s>\t{log(bows[('<s>',)])}")
        for g in sorted(by_order[n - 1]):
            bow = f"\t{log(bows[g])}" if n < order and g in bows else ""
            out.append(f"{log(probs[g])}\t{' '.join(g)}{bow}")
    out += ["", "\\end\\", ""]
    return "\n".join(out)


def _backoff(probs: dict[tuple[str, ...], float], bows: dict[tuple[str, ...], float],
             g: tuple[str, ...]) -> float:
    """P(g[-1] | g[:-1]) in backoff form, from the lower orders built so far."""
    if g in probs:
        return probs[g]
    if len(g) == 1:
        return 1e-7
    return bows.get(g[:-1], 1.0) * _backoff(probs, bows, g[1:])
