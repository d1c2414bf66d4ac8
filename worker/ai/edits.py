"""A model's edits to a project's workspace, and the rules that confine them.

The model answers an ``EditAnswer`` (requested with its JSON Schema, checked with pydantic by
``AIClient.ask_structured``). Each edit is one of:

- a whole file: ``{"path", "content"}`` (creates or replaces it);
- a search/replace block: ``{"path", "search", "replace"}``: ``search`` must occur exactly once
  in the file as it is at that moment (earlier edits of the same answer included);
- a deletion: ``{"path", "delete": true}``;
- a rename: ``{"path", "rename_to"}`` (the new name must not exist yet).

``apply_edits`` checks every path by the ops loop's rules (``worker.ops.paths.check_path``):
relative, normalized, no ``..``, no absolute or drive paths, nothing through a symlink (looked up
on disk, component by component) and no protected name (``.git/``, ``.env``, secrets, keys,
``.ci/``, ``migrations/``). An edit that breaks a rule, or whose search text does not match
exactly once, is *refused*: nothing is written for it and the reason is collected for the model.
Accepted edits are written: each write goes to a temporary file in the target's folder, which
then replaces the target (so a planted hard link or a symlink at the last component is replaced,
never written through), after the folder's real path was checked to be inside the workspace.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from worker.ops.paths import PathPolicy, PathRejected, check_path, disk_symlinks

MAX_EDITS = 40
MAX_PATH_CHARS = 1024
MAX_FILE_CHARS = 200_000
# Never written by a model, at any depth (on top of the ops loop's .git/, .ci/, migrations/).
WORKSPACE_PROTECTED = (
    ".git", ".env", ".env.*", "*.env", "secrets", ".secrets", ".ssh", "*.pem", "*.key", "*.p12",
    "*.pfx", "id_rsa*", "id_ecdsa*", "id_ed25519*", ".netrc", ".pypirc", ".npmrc",
    ".git-credentials", "credentials.json",
)


def _path_length(value: str) -> str:
    if len(value) > MAX_PATH_CHARS:
        raise ValueError(f"a path is at most {MAX_PATH_CHARS} characters")
    return value


def _text_length(value: str) -> str:
    if len(value) > MAX_FILE_CHARS:
        raise ValueError(f"a file's text is at most {MAX_FILE_CHARS:,} characters")
    return value


# Length limits are checked, not put in the JSON Schema: llama.cpp turns a maxLength into a
# grammar rule per character, and 200,000 of them is a grammar it cannot parse.
PathText = Annotated[str, Field(min_length=1), AfterValidator(_path_length)]
FileText = Annotated[str, AfterValidator(_text_length)]


class WriteFile(BaseModel):
    """The whole new content of a file (created when missing)."""

    model_config = ConfigDict(extra="forbid")
    path: PathText
    content: FileText


class ReplaceBlock(BaseModel):
    """Replace the one place where ``search`` occurs in the file with ``replace``."""

    model_config = ConfigDict(extra="forbid")
    path: PathText
    search: Annotated[FileText, Field(min_length=1)]
    replace: FileText


class DeleteFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: PathText
    delete: Literal[True]


class RenameFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: PathText
    rename_to: PathText


Edit = WriteFile | ReplaceBlock | DeleteFile | RenameFile


class EditAnswer(BaseModel):
    """What the model answers: the edits to make, in order."""

    edits: list[Edit]

    @field_validator("edits")
    @classmethod
    def _not_too_many(cls, edits: list[Edit]) -> list[Edit]:
        if len(edits) > MAX_EDITS:
            raise ValueError(f"at most {MAX_EDITS} edits in one answer")
        return edits


FORMAT_HELP = (
    'Answer with one JSON object {"edits": [...]}. Each edit is one of: '
    '{"path": P, "content": TEXT} (write the whole file), '
    '{"path": P, "search": OLD, "replace": NEW} (OLD must occur exactly once in the file, '
    'copied exactly, whitespace included), {"path": P, "delete": true}, '
    '{"path": P, "rename_to": Q}. Paths are relative to the workspace root with forward '
    "slashes; absolute paths, '..', symlinks and protected files (.git/, .env, secrets, keys) "
    "are refused.")


def workspace_policy(extra_protected: Iterable[str] = ()) -> PathPolicy:
    """Everything inside the workspace, except protected names (plus ``extra_protected``)."""
    return PathPolicy(("**",), (*WORKSPACE_PROTECTED, *extra_protected))


@dataclass(frozen=True)
class Refusal:
    """An edit that was not applied, and why (one line, for the model and the person)."""

    index: int
    path: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"edit": self.index, "path": self.path, "reason": self.reason}

    def __str__(self) -> str:
        return f"edits[{self.index}] {self.path!r}: {self.reason}"


@dataclass
class Applied:
    """The outcome of one answer's edits: which files changed (their text before and after;
    None where a file did not exist) and which edits were refused."""

    changes: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    refusals: list[Refusal] = field(default_factory=list)
    accepted: int = 0

    @property
    def changed(self) -> list[str]:
        return [path for path, (old, new) in self.changes.items() if old != new]

    def diff(self) -> str:
        """The unified diff the accepted edits made to the workspace."""
        return unified_diff(self.changes)


class Refused(Exception):
    """One edit cannot be applied; the message is the reason."""


def unified_diff(changes: dict[str, tuple[str | None, str | None]]) -> str:
    parts: list[str] = []
    for path in sorted(changes):
        old, new = changes[path]
        if old == new:
            continue
        before = (old or "").splitlines(keepends=True)
        after = (new or "").splitlines(keepends=True)
        lines = list(difflib.unified_diff(
            before, after, fromfile="/dev/null" if old is None else f"a/{path}",
            tofile="/dev/null" if new is None else f"b/{path}"))
        parts.extend(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                     for line in lines)
    return "".join(parts)


class Workspace:
    """Reads and writes inside one folder, by the confinement rules above."""

    def __init__(self, root: Path, policy: PathPolicy | None = None) -> None:
        self.root = Path(os.path.realpath(root))
        if not self.root.is_dir():
            raise NotADirectoryError(f"workspace {root} is not a folder")
        self.policy = policy or workspace_policy()

    # -- checks -------------------------------------------------------------------------------

    def check(self, path: str) -> str:
        """``path`` when every rule passes (symlinks looked up on disk), else ``Refused``."""
        try:
            return check_path(path, self.policy, symlink_target=disk_symlinks(self.root))
        except PathRejected as exc:
            raise Refused(_workspace_words(exc.message)) from None

    def _inside(self, folder: Path) -> Path:
        real = Path(os.path.realpath(folder))
        if real != self.root and self.root not in real.parents:
            raise Refused(f"its folder resolves to {real}, outside the workspace")
        return real

    def _target(self, path: str) -> Path:
        """The file's location with its folder's real path checked to be in the workspace."""
        rel = self.check(path)
        target = self.root / rel
        return self._inside(target.parent) / target.name

    # -- file operations ----------------------------------------------------------------------

    def read(self, path: str) -> str | None:
        """The text of a regular file (None when it does not exist); never follows a link."""
        target = self._target(path)
        try:
            info = os.lstat(target)
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            raise Refused("a file is in the way of its folder") from None
        if stat.S_ISLNK(info.st_mode):
            raise Refused("it is a symlink; edits never go through symlinks")
        if stat.S_ISDIR(info.st_mode):
            raise Refused("it is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise Refused("it is not a regular file")
        fd = os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as handle:
            data = handle.read()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused("it is not a UTF-8 text file") from None

    def write(self, path: str, text: str) -> None:
        target = self._target(path)
        self._make_folder(target.parent)
        target = self._inside(target.parent) / target.name  # again, after creating it
        mode = 0o644
        with contextlib.suppress(FileNotFoundError):
            info = os.lstat(target)
            if stat.S_ISDIR(info.st_mode):
                raise Refused("it is a folder, not a file")
            if stat.S_ISREG(info.st_mode):
                mode = stat.S_IMODE(info.st_mode)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".titan-edit-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(text.encode("utf-8"))
            os.chmod(temp, mode)
            os.replace(temp, target)  # replaces a link or hard link, never writes through it
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise

    def delete(self, path: str) -> None:
        target = self._target(path)
        if self.read(path) is None:
            raise Refused("there is no such file to delete")
        os.unlink(target)

    def rename(self, path: str, new_path: str) -> None:
        source = self._target(path)
        if self.read(path) is None:
            raise Refused("there is no such file to rename")
        try:
            destination = self._target(new_path)
        except Refused as exc:
            raise Refused(f"rename_to {new_path!r}: {exc}") from None
        if os.path.lexists(destination):
            raise Refused(f"rename_to {new_path!r} exists already (delete it first)")
        self._make_folder(destination.parent)
        destination = self._inside(destination.parent) / destination.name
        os.rename(source, destination)

    def _make_folder(self, folder: Path) -> None:
        rel = folder.relative_to(self.root)
        current = self.root
        for part in rel.parts:  # one level at a time: never through a link
            current = current / part
            try:
                info = os.lstat(current)
            except FileNotFoundError:
                try:
                    os.mkdir(current)
                except OSError as exc:
                    raise Refused(f"cannot create folder {part!r}: {exc.strerror}") from None
                continue
            if stat.S_ISLNK(info.st_mode):
                raise Refused(f"{part!r} is a symlink; edits never go through symlinks")
            if not stat.S_ISDIR(info.st_mode):
                raise Refused(f"{part!r} is a file, so no folder can be made there")


def apply_edits(workspace: Path | Workspace, edits: Sequence[Edit],
                policy: PathPolicy | None = None) -> Applied:
    """Apply the edits in order; refused ones are collected with their reasons, not written."""
    space = workspace if isinstance(workspace, Workspace) else Workspace(workspace, policy)
    applied = Applied()
    for index, edit in enumerate(edits):
        try:
            touched = _apply_one(space, edit)
        except Refused as exc:
            applied.refusals.append(Refusal(index, edit.path, str(exc)))
            continue
        except OSError as exc:  # the disk said no (full, read-only, ...): refused, said why
            reason = exc.strerror or type(exc).__name__
            applied.refusals.append(Refusal(index, edit.path, f"the write failed: {reason}"))
            continue
        applied.accepted += 1
        for path, (old, new) in touched.items():
            first = applied.changes.get(path, (old, new))[0]
            applied.changes[path] = (first, new)
    return applied


def _apply_one(space: Workspace, edit: Edit) -> dict[str, tuple[str | None, str | None]]:
    if isinstance(edit, WriteFile):
        old = space.read(edit.path)
        space.write(edit.path, edit.content)
        return {edit.path: (old, edit.content)}
    if isinstance(edit, ReplaceBlock):
        old = space.read(edit.path)
        if old is None:
            raise Refused("there is no such file; write the whole file instead")
        count = old.count(edit.search)
        if count == 0:
            raise Refused("the search text does not occur in the file (it must match exactly, "
                          "whitespace and indentation included)")
        if count > 1:
            raise Refused(f"the search text occurs {count} times; include more surrounding "
                          "lines so it occurs exactly once")
        new = old.replace(edit.search, edit.replace, 1)
        space.write(edit.path, new)
        return {edit.path: (old, new)}
    if isinstance(edit, DeleteFile):
        old = space.read(edit.path)
        space.delete(edit.path)
        return {edit.path: (old, None)}
    old = space.read(edit.path)
    space.rename(edit.path, edit.rename_to)  # refused when rename_to exists
    return {edit.path: (old, None), edit.rename_to: (None, old)}


def _workspace_words(message: str) -> str:
    """The ops rules speak of the repository and patches; here it is the workspace and edits."""
    return (message.replace("leaves the repository", "leaves the workspace")
            .replace("relative to the repository root", "relative to the workspace root")
            .replace("patches never write", "edits never write"))
