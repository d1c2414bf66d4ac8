"""Jason's commands: the one table everything else is generated from.

Each phrase is a tiny pattern language shared by the voice grammar, the n-gram language model and
the text parser, so the three can never disagree:

* ``word``          a literal (lower case; say numbers as words),
* ``(a|b)``         one of several words,
* ``[a|b]``         optionally one of several words,
* ``{slot}``        a slot (see ``SLOT_TYPES``), ``[{slot}]`` an optional one.

A command's ``typed`` phrases are understood in the chat but left out of the voice grammar and
language model (spoken, they were misheard or sounded like everyday speech).

Slot fillers: ``tab`` and ``period`` are fixed here; ``project``/``new_project``/``template`` are
dynamic (the project and template names are passed to the generators).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Fixed slot vocabularies: canonical value -> spoken forms.
TABS: dict[str, tuple[str, ...]] = {
    "logs": ("logs", "log"),
    "output": ("output",),
    "sales": ("sales",),
    "progress": ("progress",),
    "input": ("input", "chat"),
}
PERIODS: dict[str, tuple[str, ...]] = {
    "today": ("today",),
    "this week": ("this week",),
    "total": ("total", "in total", "overall", "all time"),
}
# slot type -> "fixed" vocabulary or where a dynamic one comes from.
SLOT_TYPES: dict[str, str] = {
    "project": "existing project name",
    "new_project": "name for a new project (any name when typed)",
    "template": "template name",
    "tab": "one of: " + ", ".join(TABS),
    "period": "one of: " + ", ".join(PERIODS),
}

# Words Jason ignores around a typed command ("hey Jason, please ...").
FILLERS: tuple[str, ...] = (
    "hey jason", "ok jason", "okay jason", "hi jason", "jason", "hey", "please", "ok", "okay",
    "um", "uh", "so", "now", "just", "can you", "could you", "would you", "will you",
    "i want to", "i would like to", "i would like", "let us", "for me", "thanks", "thank you",
    "kindly", "quickly",
)
# Words that introduce a slot in some phrases: a free-text name at the end of a phrase without
# that slot stops before them, so "create a project called Moon Garden with the fancy template"
# is a project and an (unknown) template, not a project named "Moon Garden With The Fancy ...".
SLOT_INTRODUCERS: dict[str, tuple[str, ...]] = {"template": ("using", "with", "from")}
# Words that carry no meaning of their own: a sentence may hold them anywhere without a command
# having to explain them ("restart the worker" vs "restart the computer": only "computer"
# needs explaining). Every other word heard must be a word of the command matched.
def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


FUNCTION_WORDS: frozenset[str] = _word_set("""
a an the this that these those my your our his her its their me us you i we it them him
of for to in on at by from with about into please now just so and or but is are was were be
been do does did can could would will shall should may might must hey ok okay jason um uh
ah oh well then there here what which who how all some any""")
# Words before a typed name that show it is no project name: "cancel my dentist appointment",
# "open the window" (a name Jason knows, like "My Web App", is matched before this applies).
NOT_A_NAME_START: frozenset[str] = _word_set(
    "a an the this that these those my your our his her their some")
# Optional words the voice grammar allows around any command.
SPOKEN_PREFIX = "jason"
SPOKEN_SUFFIX = "please"


@dataclass(frozen=True)
class Command:
    name: str
    phrases: tuple[str, ...]
    help: str
    slots: dict[str, str] = field(default_factory=dict)  # slot name -> slot type
    destructive: bool = False  # needs a spoken "are you sure?" -> yes/no first
    # Only reads or shows: when the AI model chose it (not the grammar), it runs at once;
    # a model-chosen command that changes anything is read back for a yes first.
    read_only: bool = False
    defaults: dict[str, str] = field(default_factory=dict)  # for optional slots
    # Phrases understood when typed but left out of the voice grammar and language model:
    # spoken, they sound like everyday speech and pulled it in (see the comments at each).
    typed: tuple[str, ...] = ()

    @property
    def example(self) -> str:
        """The first phrase with its optional parts dropped: used in help and suggestions."""
        return phrase_example(self.phrases[0])


_PROJECT = {"project": "project"}

COMMANDS: tuple[Command, ...] = (
    Command("create_project", (
        "create [a] [new] project (called|named) {project} (using|with|from) [the] {template}"
        " [template]",
        "create [a] [new] {template} project (called|named) {project}",
        "create [a] [new] project {project} (using|with|from) [the] {template} [template]",
        "new project {project} (using|with|from) [the] {template} [template]",
        "start [a] new {template} project (called|named) {project}",
        # no template named: the brain's default ("create a project called Moon Garden")
        "create [a] [new] project (called|named) {project}",
    ), "create a project, e.g. “create project Moon Garden using persona basic”",
        slots={"project": "new_project", "template": "template"}),
    Command("status_all", (
        "status [report|update]",
        "what is the status [of everything]",
        "give me [a|the] status [report|update]",
        "how (are|is) (things|everything) [going]",
    ), "the status of all projects",
        # spoken, everyday "how ... doing" came out as it ("how old is the universe")
        typed=("how are we doing",), read_only=True),
    Command("status_project", (
        "[what is] [the] status of [project] {project}",
        "how is [project] {project} [doing|going]",
        "{project} status",
        "what is happening with [project] {project}",
    ), "the status of one project, e.g. “status of Moon Garden”", slots=_PROJECT,
        read_only=True),
    Command("whats_failing", (
        "what is (failing|broken)",
        "what failed",
        "show [me] [the] failures",  # not "list": "list failures" ~ "last error"
        "(any|are there) failures",
        "which (jobs|projects) (failed|are failing)",
    ), "which jobs and projects are failing", read_only=True),
    Command("last_error", (
        "(read|show|tell) [me] the last error",
        "what (is|was) the last error",
        "last error",
        "why did it fail",
    ), "read the last error aloud", read_only=True),
    Command("retry_failed", (
        "retry [all] [the] failed (jobs|projects)",
        "retry (everything|all) [that failed]",
        "retry [the] failures",
    ), "retry every failed job (asks for confirmation)", destructive=True),
    Command("cancel_project", (
        "cancel [project] {project}",
        "abort [project] {project}",
    ), "cancel a project (asks for confirmation)", slots=_PROJECT, destructive=True),
    Command("pause_worker", (
        "pause [the] (worker|workers)",
    ), "pause the worker: running jobs finish, no new ones start",
        # spoken, the LM decoder heard "tell/go to the workers" (5 of 9 utterances)
        typed=("hold [the] (worker|workers)",)),
    Command("resume_worker", (
        "resume [the] (worker|workers)",
        "unpause [the] (worker|workers)",
        "continue [the] (worker|workers)",
    ), "resume the paused worker"),
    Command("restart_worker", (
        "restart [the] (worker|workers)",
        "reboot [the] (worker|workers)",
    ), "restart the worker process (asks for confirmation)", destructive=True),
    Command("show_tab", (
        "(show|open) [me] [the] {tab} [tab]",
        "(go|switch) to [the] {tab} [tab]",
    ), "switch tab: logs, output, sales, progress or input", slots={"tab": "tab"},
        read_only=True),
    Command("open_output", (
        "(open|show) [me] [the] output (of|for) [project] {project}",
        "open [project] {project}",
    ), "open a project's output, e.g. “open the output of My Web App”", slots=_PROJECT,
        read_only=True),
    Command("sales", (
        "how (are|were) [the] sales [{period}]",
        "what are [the] sales [{period}]",
        "sales {period}",
        "how much did we sell [{period}]",
    ), "sales figures: today, this week or total", slots={"period": "period"},
        defaults={"period": "today"}, read_only=True),
    Command("summary", (
        "(give|read) me [a|the] summary",
        "summary",
        "summarize [everything]",
        "what happened [today]",
    ), "a spoken summary: published, failed, awaiting a decision", read_only=True),
    Command("approve_project", (
        "approve [project] {project}",
        "accept [project] {project}",
    ), "approve a project awaiting a decision", slots=_PROJECT),
    Command("reject_project", (
        "reject [project] {project}",
        "decline [project] {project}",
    ), "reject a project awaiting a decision (asks for confirmation)", slots=_PROJECT,
        destructive=True),
    Command("help", (
        "help",
        "what can you do",
        "what can i say",
        "(list|show) [the] commands",
    ), "list what Jason understands", read_only=True),
    Command("name_correction", (
        "no call it {project}",
        "call it {project}",
        "no (it is|its) (called|named) {project}",
        "the name is {project}",
    ), "correct a name Jason read back, e.g. “no, call it Sunflower Bakehouse”",
        slots={"project": "new_project"}),
    Command("confirm_yes", (
        "yes",  # short on purpose: "yes do it" was misheard for "last error"
        "(yeah|sure|confirm|affirmative|correct)",
        "go ahead",
    ), "answer “yes” to “are you sure?”"),
    Command("confirm_no", (
        "no [thanks]",
        "(nope|negative)",
        "never mind",
        "cancel that",
        "do not",
    ), "answer “no” to “are you sure?”"),
)

BY_NAME: dict[str, Command] = {c.name: c for c in COMMANDS}

# --- the phrase pattern language ------------------------------------------------------------

_TOKEN = re.compile(r"\[[^\]]*\]|\([^)]*\)|\{[^}]*\}|[^\s\[\](){}]+")


@dataclass(frozen=True)
class Token:
    words: tuple[str, ...]  # alternatives; empty for a slot
    slot: str | None = None
    optional: bool = False


def tokens(phrase: str) -> list[Token]:
    out: list[Token] = []
    for raw in _TOKEN.findall(phrase):
        optional = raw.startswith("[")
        inner = raw[1:-1] if raw[0] in "[(" else raw
        if inner.startswith("{"):
            out.append(Token((), inner[1:-1], optional))
        else:
            out.append(Token(tuple(inner.split("|")), None, optional))
    return out


def phrase_example(phrase: str, fillers: dict[str, str] | None = None) -> str:
    """A readable instance of a phrase: required parts only, slots as <slot> or their filler."""
    parts: list[str] = []
    for tok in tokens(phrase):
        if tok.optional:
            continue
        if tok.slot:
            parts.append((fillers or {}).get(tok.slot, f"<{tok.slot}>"))
        else:
            parts.append(tok.words[0])
    return " ".join(parts)


# --- spoken forms of names --------------------------------------------------------------------

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen"]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_words(digits: str) -> list[str]:
    n = int(digits)
    if (len(digits) > 1 and digits.startswith("0")) or n >= 100:
        return [_ONES[int(d)] for d in digits]  # "007", "2024": digit by digit
    if n < 20:
        return [_ONES[n]]
    return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])


_CONTRACTIONS = {
    "what's": "what is", "how's": "how is", "where's": "where is", "that's": "that is",
    "it's": "it is", "let's": "let us", "don't": "do not", "i'd": "i would", "we're": "we are",
    "i'm": "i am", "what're": "what are", "how're": "how are",
}
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


def words_of(text: str) -> list[str]:
    """Text -> the words a person would say, keeping case: 'Shop-2!' -> ['Shop', 'two']."""
    out: list[str] = []
    for raw in _WORD.findall(text.replace("\u2019", "'")):
        low = raw.lower()
        if low in _CONTRACTIONS:
            out.extend(_CONTRACTIONS[low].split())
            continue
        # split letters from digits: "app2" -> "app", "two"
        for part in re.findall(r"\d+|\D+", raw.replace("'", "")):
            out.extend(number_words(part) if part.isdecimal() else [part])
    return out


def spoken(name: str) -> str:
    """Lower-case spoken form of a project or template name: 'persona/basic' -> 'persona basic'."""
    return " ".join(words_of(name)).lower()


def template_forms(templates: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Spoken forms of template refs: "persona basic", and the family alone ("persona") when
    only one template has it, as people say "with the persona template"."""
    forms = {spoken(t): t for t in templates if spoken(t)}
    families: dict[str, list[str]] = {}
    for t in templates:
        family = spoken(t.split("/")[0]) if "/" in t else ""
        if family:
            families.setdefault(family, []).append(t)
    for family, refs in families.items():
        if len(refs) == 1:
            forms.setdefault(family, refs[0])
    return forms


def slot_vocabulary(projects: list[str] | tuple[str, ...] = (),
                    templates: list[str] | tuple[str, ...] = (),
                    new_projects: list[str] | tuple[str, ...] = ()) -> dict[str, dict[str, str]]:
    """slot type -> {spoken form: canonical value}. New-project names default to the projects."""
    def table(names: list[str] | tuple[str, ...]) -> dict[str, str]:
        return {spoken(n): n for n in names if spoken(n)}

    vocab = {
        "project": table(projects),
        "new_project": table([*new_projects, *projects]),
        "template": template_forms(templates),
        "tab": {s: canon for canon, forms in TABS.items() for s in forms},
        "period": {s: canon for canon, forms in PERIODS.items() for s in forms},
    }
    return vocab


def help_text() -> str:
    """The help text, generated from the table."""
    lines = ["You can say or type:"]
    for cmd in COMMANDS:
        if cmd.name.startswith("confirm_"):
            continue
        lines.append(f"  • “{cmd.example}” — {cmd.help}")
    lines.append("Destructive commands ask “are you sure?”: answer “yes” or “no”.")
    return "\n".join(lines)
