"""The repair loop: the model edits a workspace until a check passes in the sandbox.

One run of the loop (``run_repair``) takes a workspace, a task description, the files in play
and a check command (an argv, e.g. ``python -m pytest -q``). Each round:

1. asks the model for edits (``EditAnswer``; round 1 is the first draft);
2. applies them with the workspace's confinement rules (``worker.ai.edits``): refused edits are
   collected with their reasons, nothing is written for them;
3. runs the check in the sandbox (``worker.sandbox.run``, on a throwaway copy of the workspace:
   the model's code never runs outside it, never sees a secret or the database);
4. records the round (``ai_rounds``): its number, the diff its edits made, the check's summary
   ("1 test failing"), its tokens and its refusals.

A round passes when the check exits 0 and no edit was refused (a refused edit counts against the
round). Otherwise the next round's request carries the failing output (its tail), the files
involved as they are now and the refusal reasons. The loop ends ``passed``, or ``failed`` with a
stated reason: the round limit (``TITAN_AI_REPAIR_ROUNDS``, default 3), the project's token
budget (``TITAN_AI_MAX_TOKENS_PER_PROJECT``), an AI endpoint that fails, or no sandbox on this
machine. A check that hangs is killed at its wall-clock limit (``check_timeout_seconds``) and
counts as a failing round, so the loop never hangs.

``on_progress`` gets one line per step, e.g. ``"round 2/3: 1 test failing"``.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker import sandbox
from worker.ai.client import AIClient, Message
from worker.ai.edits import (
    FORMAT_HELP,
    Applied,
    EditAnswer,
    Refusal,
    Refused,
    Workspace,
    apply_edits,
    workspace_policy,
)
from worker.ai.errors import AIError, AIInvalidAnswer, BudgetExceeded
from worker.config import Settings
from worker.db.engine import Database
from worker.services import ai_rounds

PURPOSE = "repair"
PASSED = "passed"
FAILED = "failed"
MAX_TOKENS = 4096  # one answer's completion
OUTPUT_CHARS = 6_000  # the failing output's tail sent back
FILE_CHARS = 20_000  # one file's text sent back (longer files are cut, and say so)
FILES_CHARS = 60_000  # all files sent in one request
MAX_FILES = 12
LISTING = 200  # workspace entries listed for the model
SKIPPED_FOLDERS = {".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache",
                   "node_modules", ".venv", "venv", ".tox", "dist", "build"}

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RepairTask:
    """What to build or fix, where, and the check that decides."""

    workspace: Path
    task: str
    check: Sequence[str]
    files: Sequence[str] = ()
    project_id: int | None = None
    job_id: int | None = None
    purpose: str = PURPOSE
    max_rounds: int | None = None  # None: TITAN_AI_REPAIR_ROUNDS
    check_timeout_seconds: float = 600.0
    max_tokens: int = MAX_TOKENS
    instructions: str = ""  # a template's own rules, added to the system prompt
    protected: tuple[str, ...] = ()  # more names the model may not write
    # Extra environment for the check (on top of the sandbox's allow-list), e.g.
    # PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 to keep Titan's own pytest plugins out of a project's.
    env: dict[str, str] | None = None


@dataclass(frozen=True)
class CheckResult:
    exit_code: int
    output: str  # the tail, with the sandbox's tree prefix removed
    timed_out: bool
    summary: str

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


BUDGET_SPENT = "stopped: the token budget is spent"


@dataclass
class Round:
    number: int
    of: int
    diff: str
    summary: str
    passed: bool
    tokens: int
    exit_code: int | None
    refusals: list[Refusal] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    output: str = ""

    @property
    def progress(self) -> str:
        text = f"round {self.number}/{self.of}: {self.summary}"
        if self.refusals:
            count = len(self.refusals)
            text += f", {count} edit{'s' if count != 1 else ''} refused"
        return text


@dataclass
class RepairResult:
    status: str  # "passed" or "failed"
    reason: str
    loop_id: str
    rounds: list[Round] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    @property
    def tokens(self) -> int:
        return sum(r.tokens for r in self.rounds)


async def run_repair(client: AIClient, settings: Settings, task: RepairTask, *,
                     db: Database | None = None, on_progress: Progress | None = None
                     ) -> RepairResult:
    """Run the loop to its end: ``passed``, or ``failed`` with the reason (never raises for a
    model, budget or check failure; cancellation propagates and kills the check)."""
    loop = _Loop(client, settings, task, db if db is not None else client.db, on_progress)
    return await loop.run()


class _Loop:
    def __init__(self, client: AIClient, settings: Settings, task: RepairTask,
                 db: Database | None, on_progress: Progress | None) -> None:
        if not task.check:
            raise ValueError("the repair loop needs a check command")
        self.client = client
        self.settings = settings
        self.task = task
        self.db = db
        self.on_progress = on_progress
        self.rounds = task.max_rounds or settings.ai_repair_rounds
        self.space = Workspace(task.workspace, workspace_policy(task.protected))
        self.result = RepairResult(FAILED, "", uuid.uuid4().hex)

    def say(self, text: str) -> None:
        if self.on_progress is not None:
            self.on_progress(text)

    def stop(self, status: str, reason: str) -> RepairResult:
        self.result.status, self.result.reason = status, reason
        self.say(reason)
        return self.result

    async def run(self) -> RepairResult:
        problem = _sandbox_problem(self.settings)
        if problem is not None:
            return self.stop(FAILED, problem)
        first = [{"role": "system", "content": self.system_prompt()},
                 {"role": "user", "content": self.task_prompt()}]
        messages: list[Message] = list(first)
        last_feedback = ""
        for number in range(1, self.rounds + 1):
            where = f"round {number}/{self.rounds}"
            self.say(f"{where}: asking the model")
            calls_before = len(self.client.recorded_ids)
            try:
                answer: EditAnswer | None = await self.client.ask_structured(
                    messages, EditAnswer, purpose=self.task.purpose,
                    project_id=self.task.project_id, job_id=self.task.job_id,
                    max_tokens=self.task.max_tokens, temperature=0.2)
                invalid = ""
            except BudgetExceeded as exc:
                # A round of its own, so the rounds view says why the loop ended there.
                await self.record(Round(number, self.rounds, "", BUDGET_SPENT, False, 0, None))
                return self.stop(FAILED, f"stopped before {where}: the token budget is spent "
                                         f"({exc})")
            except AIInvalidAnswer as exc:
                answer, invalid = None, str(exc)
            except AIError as exc:
                return self.stop(FAILED, f"stopped in {where}: {exc}")
            tokens = await self.tokens_since(calls_before)
            if answer is None:
                done = Round(number, self.rounds, "", "no valid answer", False, tokens, None)
                await self.record(done)
                self.say(done.progress)
                # The last judged round's failure still stands: say it again.
                again = self.invalid_feedback(done, invalid)
                if last_feedback:
                    again += "\n\nWhere things stand:\n" + last_feedback
                messages = [*first, {"role": "user", "content": again}]
                continue
            applied = apply_edits(self.space, answer.edits)
            self.say(f"{where}: running the check")
            check = await self.run_check()
            done = Round(number, self.rounds, applied.diff(), check.summary,
                         check.passed and not applied.refusals, tokens, check.exit_code,
                         list(applied.refusals), applied.changed, check.output)
            await self.record(done)
            self.say(done.progress)
            if done.passed:
                return self.stop(PASSED, f"the check passed in {where}: {check.summary}")
            last_feedback = self.feedback(done, applied, check)
            messages = [*first, {"role": "assistant", "content": answer.model_dump_json()},
                        {"role": "user", "content": last_feedback}]
        last = self.result.rounds[-1] if self.result.rounds else None
        limit = ("" if self.task.max_rounds else
                 f" (TITAN_AI_REPAIR_ROUNDS={self.settings.ai_repair_rounds})")
        still = last.summary if last else "no round ran"
        if last is not None and last.refusals:
            still += f", {len(last.refusals)} edit(s) refused"
        return self.stop(FAILED, f"the round limit is reached: the check still fails after "
                                 f"{self.rounds} round{'s' if self.rounds != 1 else ''}"
                                 f"{limit}; last: {still}")

    # -- the check ----------------------------------------------------------------------------

    async def run_check(self) -> CheckResult:
        limits = sandbox.Limits.from_settings(self.settings, self.task.check_timeout_seconds)
        done = await sandbox.run(self.settings, list(self.task.check), self.space.root, limits,
                                 env=self.task.env)
        output = done.output.replace(f"{sandbox.TREE}/", "")
        return CheckResult(done.returncode, output, done.timed_out,
                           summarize(self.task.check, done.returncode, output, done.timed_out))

    # -- records ------------------------------------------------------------------------------

    async def tokens_since(self, first: int) -> int:
        if self.db is None:
            return 0
        return await ai_rounds.tokens_of(self.db, self.client.recorded_ids[first:])

    async def record(self, done: Round) -> None:
        self.result.rounds.append(done)
        if self.db is None:
            return
        await ai_rounds.record(self.db, ai_rounds.RoundRecord(
            loop_id=self.result.loop_id, purpose=self.task.purpose, round=done.number,
            max_rounds=done.of, diff=done.diff, check_summary=done.summary, passed=done.passed,
            tokens=done.tokens, check_exit_code=done.exit_code, check_output=_tail(done.output),
            refusals=[{"path": r.path, "reason": r.reason} for r in done.refusals],
            project_id=self.task.project_id, job_id=self.task.job_id))

    # -- prompts ------------------------------------------------------------------------------

    def command(self) -> str:
        """The check as a person would type it (Titan's interpreter shown as ``python``)."""
        argv = list(self.task.check)
        if argv and argv[0] == sys.executable:
            argv[0] = "python"
        return shlex.join(argv)

    def system_prompt(self) -> str:
        text = ("You are a careful software engineer. You change the files of a project's "
                "workspace only through edits. " + FORMAT_HELP + " After your edits Titan runs "
                "the check command in the workspace root, in a sandbox without network; your "
                "work is done when it exits 0. Keep what already works; change only what the "
                "task or the failure needs.")
        if self.task.instructions:
            text += "\n" + self.task.instructions
        return text

    def task_prompt(self) -> str:
        listing = self.listing()
        parts = [f"Task: {self.task.task}",
                 f"The check: `{self.command()}` (it must exit 0).",
                 "Files in the workspace:\n" + ("\n".join(listing) if listing else "(none yet)")]
        shown = self.files_text(list(self.task.files))
        if shown:
            parts.append("The files in play:\n" + shown)
        return "\n\n".join(parts)

    def feedback(self, done: Round, applied: Applied, check: CheckResult) -> str:
        parts = [f"Round {done.number}/{done.of} did not pass. Your accepted edits are in the "
                 "workspace now."]
        if applied.refusals:
            parts.append("These edits were refused (nothing was written for them):\n"
                         + "\n".join(f"- {r}" for r in applied.refusals))
        outcome = "passed" if check.passed else "failed"
        parts.append(f"The check `{self.command()}` {outcome} "
                     f"(exit {check.exit_code}): {check.summary}.")
        if not check.passed:
            parts.append("Its output (the end):\n```\n" + _tail(check.output) + "\n```")
        involved = [*self.task.files, *applied.changed, *mentioned(check.output, self.space)]
        shown = self.files_text(involved)
        if shown:
            parts.append("The files involved, as they are now:\n" + shown)
        parts.append("Answer with the edits that make the check pass.")
        return "\n\n".join(parts)

    def invalid_feedback(self, done: Round, error: str) -> str:
        return (f"Round {done.number}/{done.of}: your answer was not valid, so nothing was "
                f"changed: {error}\n\nAnswer again with the edits, as one JSON object.")

    def files_text(self, paths: Sequence[str]) -> str:
        seen: set[str] = set()
        blocks: list[str] = []
        budget = FILES_CHARS
        for path in paths:
            if path in seen or len(seen) >= MAX_FILES:
                continue
            seen.add(path)
            try:
                text = self.space.read(path)
            except Refused as exc:
                blocks.append(f"### {path}\n(not shown: {exc})")
                continue
            if text is None:
                continue
            limit = min(FILE_CHARS, budget)
            if limit <= 0:
                blocks.append(f"### {path}\n(not shown: the request is full)")
                continue
            cut = text[:limit]
            note = "" if len(cut) == len(text) else f"\n(cut: {len(text):,} characters in all)"
            budget -= len(cut)
            blocks.append(f"### {path}\n```\n{cut}\n```{note}")
        return "\n\n".join(blocks)

    def listing(self) -> list[str]:
        entries: list[str] = []
        root = self.space.root
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_FOLDERS)
            for name in sorted(files):
                rel = (Path(folder) / name).relative_to(root).as_posix()
                link = " (symlink)" if (Path(folder) / name).is_symlink() else ""
                entries.append(rel + link)
                if len(entries) >= LISTING:
                    return [*entries, "(more files not listed)"]
            for name in dirs:
                if (Path(folder) / name).is_symlink():
                    entries.append((Path(folder) / name).relative_to(root).as_posix()
                                   + "/ (symlink)")
        return entries


def _sandbox_problem(settings: Settings) -> str | None:
    """Why model-written code cannot run here (None: bubblewrap works)."""
    try:
        choice = sandbox.choose(settings)
    except sandbox.SandboxUnavailable as exc:
        return f"model-written code runs only in the sandbox, and {exc}"
    if choice.mode != "bwrap":
        return (f"model-written code runs only in the sandbox, and there is none to run it: "
                f"{choice.reason}")
    return None


def _tail(output: str) -> str:
    text = output.strip()
    if len(text) <= OUTPUT_CHARS:
        return text
    return "(earlier output cut)\n" + text[-OUTPUT_CHARS:]


# -- the check's summary ------------------------------------------------------------------------

_COUNT = re.compile(r"(\d+) (failed|passed|errors?|skipped|xfailed|xpassed)\b")


def is_pytest(argv: Sequence[str]) -> bool:
    names = [os.path.basename(a) for a in argv[:4]]
    return any(n == "pytest" or (n.startswith("pytest") and not n.endswith(".py")) for n in names)


def summarize(argv: Sequence[str], exit_code: int, output: str, timed_out: bool) -> str:
    """One short line: "1 test failing" for pytest, else the output's last line."""
    lines = [line.strip(" =") for line in output.strip().splitlines() if line.strip(" =")]
    if timed_out:
        return lines[-1].strip("[]") if lines else "timed out"
    if is_pytest(argv):
        counted = _pytest_counts(lines)
        if counted is not None:
            return counted
        if exit_code == 5:
            return "no tests ran"
    if exit_code == 0:
        return "passed"
    last = lines[-1] if lines else "no output"
    return f"exit {exit_code}: {last[:200]}"


def _pytest_counts(lines: Sequence[str]) -> str | None:
    for line in reversed(lines):
        found = _COUNT.findall(line)
        if not found or (" in " not in line and not line.startswith(tuple("0123456789"))):
            continue
        counts: dict[str, int] = {}
        for number, word in found:
            key = "error" if word.startswith("error") else word
            counts[key] = counts.get(key, 0) + int(number)
        parts = []
        if counts.get("failed"):
            n = counts["failed"]
            parts.append(f"{n} test{'s' if n != 1 else ''} failing")
        if counts.get("error"):
            n = counts["error"]
            parts.append(f"{n} error{'s' if n != 1 else ''}")
        if not parts:
            n = counts.get("passed", 0)
            parts.append(f"{n} test{'s' if n != 1 else ''} passed" if n else "no tests passed")
        return ", ".join(parts)
    if any("no tests ran" in line for line in lines):
        return "no tests ran"
    return None


_PATHLIKE = re.compile(r"[\w./-]+\.[A-Za-z0-9]+")


def mentioned(output: str, space: Workspace, limit: int = 6) -> list[str]:
    """Workspace files the output names (a traceback's files, pytest's test files)."""
    found: list[str] = []
    for token in _PATHLIKE.findall(output):
        path = token.strip("./") if token.startswith("./") else token
        if path in found or path.startswith("/"):
            continue
        try:
            space.check(path)
        except Refused:
            continue
        candidate = space.root / path
        if candidate.is_file() and not candidate.is_symlink():
            found.append(path)
            if len(found) >= limit:
                break
    return found


def round_summary(result: RepairResult) -> dict[str, Any]:
    """The loop's outcome as JSON (later the job's result and the Output tab)."""
    return {"status": result.status, "reason": result.reason, "loopId": result.loop_id,
            "tokens": result.tokens,
            "rounds": [{"round": r.number, "of": r.of, "summary": r.summary,
                        "passed": r.passed, "tokens": r.tokens, "exitCode": r.exit_code,
                        "changed": r.changed, "refusals": [x.as_dict() for x in r.refusals]}
                       for r in result.rounds]}
