"""A model drafts an ops change from a request ("add a --version flag to titan worker").

The model gets a map of the repository (``worker.ai.repomap``: the file list and top-level
symbols, ranked for the request, and the full text of the best few files) and answers edits
(``worker.ai.edits.EditAnswer``: whole files, search/replace blocks, deletions, renames). Every
edit's path is checked by the ops rules first (``ALLOWED_PATHS`` / ``PROTECTED_PATHS``, plus the
names no model writes: ``.env``, keys, secrets): one refused path refuses the whole draft before
anything is written, as one bad patch path refuses a person's change. Accepted edits are applied
to a throwaway copy of the tree, and the files that end up different from the base become the
change's patches: from there the change takes the same path as a person's patches (diff, patch,
sandboxed test, approval, canary).

A failing test gets one repair round: the failing output and the changed files go back to the
model, its edits are applied on top of the first draft, and the change goes through the
pipeline again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.ai.client import AIClient, Message
from worker.ai.edits import (
    FORMAT_HELP,
    WORKSPACE_PROTECTED,
    Edit,
    EditAnswer,
    RenameFile,
    Workspace,
    apply_edits,
)
from worker.ai.edits import Refused as EditRefused
from worker.ai.errors import AIError
from worker.ai.repomap import RepoMap, build_map
from worker.db.engine import Database
from worker.ops.paths import PathPolicy, PathRejected, check_path
from worker.services import ai_rounds

DRAFT_PURPOSE = "ops.draft"
REPAIR_PURPOSE = "ops.repair"
MAX_TOKENS = 8192  # one answer's completion
OUTPUT_CHARS = 6_000  # the failing test output's tail sent back
CHANGED_CHARS = 20_000  # one changed file's text sent back
MAX_ASK_CHARS = 4_000


def draft_policy(settings: Any) -> PathPolicy:
    """The ops rules, plus the names no model may write (keys, .env, secrets)."""
    return PathPolicy(tuple(settings.allowed_paths),
                      (*settings.protected_paths, *WORKSPACE_PROTECTED))


@dataclass
class Draft:
    """What one model answer made of the tree: the patches (relative to the base), or the
    refusals that stopped it before any write."""

    patches: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    tokens: int = 0
    model: str = ""
    edits: int = 0

    @property
    def refused(self) -> bool:
        return bool(self.refusals)


def refusals(edits: Sequence[Edit], policy: PathPolicy, root: Path) -> list[str]:
    """Every edit path (and rename target) that breaks a rule: checked before any write."""
    space = Workspace(root, policy)
    found: list[str] = []
    for index, edit in enumerate(edits):
        paths = [edit.path] + ([edit.rename_to] if isinstance(edit, RenameFile) else [])
        for path in paths:
            try:
                space.check(path)
            except EditRefused as exc:
                found.append(f"edits[{index}] {path!r}: {exc}")
    return found


def system_prompt(settings: Any) -> str:
    return (
        "You are a careful software engineer changing the code of Titan itself (a Python "
        "desktop and worker application) on a person's request. You change files only "
        "through edits. " + FORMAT_HELP + "\n"
        f"Only these paths may be written (globs): {', '.join(settings.allowed_paths)}. "
        f"These are protected and refused: {', '.join(settings.protected_paths)}, "
        ".git/, .ci/, migrations/, and secrets or keys. One refused path refuses the whole "
        "change.\n"
        f"After your edits Titan runs `{settings.ops_test_command}` on the changed tree in a "
        "sandbox without network; then a person reviews the diff and approves it. Keep the "
        "change small and focused; keep what already works; add or update a test for "
        "behaviour you add.")


def first_prompt(ask: str, repo_map: RepoMap) -> str:
    parts = [f"The request: {ask}",
             "The repository's files, the ones most related to the request first (with the "
             "top-level symbols of Python files):\n" + repo_map.render()]
    shown = repo_map.files_text()
    if shown:
        parts.append("The files most related to the request, in full:\n" + shown)
    parts.append("Answer with the edits that carry out the request.")
    return "\n\n".join(parts)


def repair_prompt(summary: str, output: str, changed: dict[str, str | None]) -> str:
    tail = output.strip()[-OUTPUT_CHARS:]
    parts = ["Your change was committed and the tests ran in the sandbox. They failed: "
             f"{summary}.", "The test output (the end):\n```\n" + tail + "\n```"]
    blocks = []
    for path, text in sorted(changed.items()):
        if text is None:
            blocks.append(f"### {path}\n(deleted by your change)")
        else:
            blocks.append(f"### {path}\n```\n{text[:CHANGED_CHARS]}\n```")
    if blocks:
        parts.append("The files your change touched, as they are now:\n" + "\n\n".join(blocks))
    parts.append("This is the one repair round: answer with the edits (on top of your change) "
                 "that make the tests pass. A person reviews the result.")
    return "\n\n".join(parts)


@dataclass
class Asked:
    """One request to the model: its edits (None when it failed), the tokens its calls used
    (from the ledger rows they wrote, failed calls included) and the model's name."""

    answer: EditAnswer | None
    tokens: int
    model: str
    error: AIError | None = None


async def ask_for_edits(client: AIClient, messages: Sequence[Message], *, purpose: str,
                        job_id: int | None, db: Database | None) -> Asked:
    """Ask for edits; an AI failure (unreachable, invalid answer twice, ...) is returned, not
    raised, so the tokens it used are still counted."""
    before = len(client.recorded_ids)
    answer: EditAnswer | None = None
    error: AIError | None = None
    try:
        answer = await client.ask_structured(messages, EditAnswer, purpose=purpose,
                                             job_id=job_id, max_tokens=MAX_TOKENS,
                                             temperature=0.2)
    except AIError as exc:
        error = exc
    tokens = (await ai_rounds.tokens_of(db, client.recorded_ids[before:])
              if db is not None else 0)
    return Asked(answer, tokens, client.endpoint.model, error)


def apply_draft(root: Path, answer: EditAnswer, policy: PathPolicy, *,
                base_text: Callable[[str], str | None] | None = None,
                carried: Sequence[str] = ()) -> Draft:
    """Check every path, then apply the edits to ``root`` (a throwaway copy of the tree).

    ``root`` is the base commit's tree (a first draft) or the change's branch (a repair:
    ``carried`` are the paths the change already touched and ``base_text`` reads a file as
    it is on the base commit). The patches are the files that now differ from the base.
    """
    draft = Draft(edits=len(answer.edits))
    draft.refusals = refusals(answer.edits, policy, root)
    if draft.refusals:
        return draft
    space = Workspace(root, policy)
    applied = apply_edits(space, answer.edits)
    if applied.refusals:  # e.g. a search text that does not occur: refused as a whole
        draft.refusals = [str(r) for r in applied.refusals]
        return draft
    paths = sorted({*carried, *applied.changes})
    for path in paths:
        before = base_text(path) if base_text is not None else applied.changes[path][0]
        now = space.read(path)
        if now == before:
            continue
        draft.patches.append({"path": path, "delete": True} if now is None
                             else {"path": path, "content": now})
    return draft


def check_patch_paths(patches: Sequence[dict[str, Any]], policy: PathPolicy) -> None:
    """The ops rules on the resulting patch paths (raises PathRejected)."""
    for index, patch in enumerate(patches):
        check_path(patch["path"], policy, field=f"patches[{index}].path")


__all__ = [
    "DRAFT_PURPOSE",
    "MAX_ASK_CHARS",
    "REPAIR_PURPOSE",
    "Asked",
    "Draft",
    "PathRejected",
    "apply_draft",
    "ask_for_edits",
    "build_map",
    "check_patch_paths",
    "draft_policy",
    "first_prompt",
    "refusals",
    "repair_prompt",
    "system_prompt",
]
