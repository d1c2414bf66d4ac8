"""Generators for the decoder: JSGF grammar, n-gram command language model, word list.

All three come from ``commands.COMMANDS`` plus the current slot vocabulary (project and template
names), so adding a phrase to the table updates voice and text together.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Iterator

from titan_desktop.jason.commands import (
    COMMANDS,
    SPOKEN_PREFIX,
    SPOKEN_SUFFIX,
    Command,
    Token,
    tokens,
)

Vocab = dict[str, dict[str, str]]  # slot type -> {spoken form: canonical value}


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
        fillers = " | ".join(sorted(vocab[st]))
        rules.append(f"<slot_{st}> = {fillers};")
    head = ["#JSGF V1.0;", "grammar jason;",
            f"public <command> = [{SPOKEN_PREFIX}] ({' | '.join(names)}) [{SPOKEN_SUFFIX}];"]
    return "\n".join(head + rules) + "\n"


def _word_choices(tok: Token) -> list[tuple[str, ...]]:
    choices = [tuple(w.split()) for w in tok.words]
    return [(), *choices] if tok.optional else choices


def sentences(vocab: Vocab) -> Iterator[list[str]]:
    """Every expansion of every phrase, slots filled round-robin so each filler appears."""
    for cmd in COMMANDS:
        for phrase in usable_phrases(cmd, vocab):
            toks = tokens(phrase)
            choices: list[list[tuple[str, ...] | str]] = []
            for tok in toks:
                if tok.slot:
                    st = cmd.slots.get(tok.slot, tok.slot)
                    choices.append(["", st] if tok.optional else [st])
                else:
                    choices.append(_word_choices(tok))  # type: ignore[arg-type]
            for combo in itertools.product(*choices):
                slot_types = [c for c in combo if isinstance(c, str) and c]
                rounds = max([len(vocab[st]) for st in slot_types] or [1])
                for i in range(rounds):
                    words: list[str] = []
                    for c in combo:
                        if isinstance(c, str):
                            if c:
                                fills = sorted(vocab[c])
                                words.extend(fills[i % len(fills)].split())
                        else:
                            words.extend(c)
                    yield words


def words(vocab: Vocab) -> set[str]:
    """Every word the grammar and the language model can produce."""
    out = {SPOKEN_PREFIX, SPOKEN_SUFFIX}
    for cmd in COMMANDS:
        for phrase in cmd.phrases:
            for tok in tokens(phrase):
                for w in tok.words:
                    out.update(w.split())
    for fillers in vocab.values():
        for spoken_form in fillers:
            out.update(spoken_form.split())
    return out


def arpa(vocab: Vocab, discount: float = 0.5) -> str:
    """A trigram ARPA language model over the command sentences (absolute discounting + backoff).

    Sentences are added bare, with the spoken prefix and with the suffix, matching the grammar.
    """
    grams: list[Counter[tuple[str, ...]]] = [Counter(), Counter(), Counter()]
    for sent in sentences(vocab):
        for variant in (sent, [SPOKEN_PREFIX, *sent], [*sent, SPOKEN_SUFFIX]):
            padded = ["<s>", *variant, "</s>"]
            for n in (1, 2, 3):
                for i in range(len(padded) - n + 1):
                    grams[n - 1][tuple(padded[i:i + n])] += 1
    total = sum(c for g, c in grams[0].items() if g != ("<s>",))
    p1 = {g[0]: c / total for g, c in grams[0].items() if g != ("<s>",)}

    def conditional(order: int) -> tuple[dict[tuple[str, ...], float], dict[tuple[str, ...], float]]:
        ctx_count: Counter[tuple[str, ...]] = Counter()
        followers: defaultdict[tuple[str, ...], list[tuple[str, ...]]] = defaultdict(list)
        for g, c in grams[order - 1].items():
            ctx_count[g[:-1]] += c
            followers[g[:-1]].append(g)
        probs = {g: (c - discount) / ctx_count[g[:-1]] for g, c in grams[order - 1].items()}
        bows = {}
        for ctx, gs in followers.items():
            left = discount * len(gs) / ctx_count[ctx]
            covered = sum(lower(g[1:]) for g in gs)
            bows[ctx] = left / max(1e-9, 1.0 - covered)
        return probs, bows

    def lower(g: tuple[str, ...]) -> float:  # backed-off probability of g under orders < len
        if len(g) == 1:
            return p1.get(g[0], 1e-9)
        if g in p2:
            return p2[g]
        return bow2.get(g[:-1], 1.0) * lower(g[1:])

    p2: dict[tuple[str, ...], float] = {}
    p2, bow2 = conditional(2)
    p3, bow3 = conditional(3)

    def log(x: float) -> str:
        return f"{math.log10(x):.4f}" if x > 0 else "-99"

    out = ["\\data\\", f"ngram 1={len(p1) + 1}", f"ngram 2={len(p2)}", f"ngram 3={len(p3)}", "",
           "\\1-grams:", f"-99\t<s>\t{log(bow2.get(('<s>',), 1.0))}"]
    out += [f"{log(p)}\t{w}\t{log(bow2.get((w,), 1.0))}" for w, p in sorted(p1.items())]
    out += ["", "\\2-grams:"]
    out += [f"{log(p)}\t{' '.join(g)}\t{log(bow3.get(g, 1.0))}" for g, p in sorted(p2.items())]
    out += ["", "\\3-grams:"]
    out += [f"{log(p)}\t{' '.join(g)}" for g, p in sorted(p3.items())]
    out += ["", "\\end\\", ""]
    return "\n".join(out)
