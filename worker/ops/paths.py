"""Which files the ops loop may write: the security boundary of Titan's self-edits.

A patch path must be a plain, relative, normalized POSIX path inside the repository that matches
an ``ALLOWED_PATHS`` glob and no ``PROTECTED_PATHS`` glob (``.git/**``, ``.ci/**`` and
``migrations/**`` are always protected), and must not pass through a symlink.
Every rule has a name; a rejection says which path broke which rule, so a caller can fix it.

Globs are gitignore-style: ``*`` and ``?`` never cross ``/``, ``**`` matches any number of
directories, ``dir/**`` matches everything inside ``dir``. Allowed globs are anchored at the
repository root (``README.md`` is the top-level README only). Protected globs err wide: they match
case-insensitively after Unicode compatibility folding (``MIGRATIONS/x``, ``Infra/x``), and one
without a ``/`` matches at any depth, as in gitignore.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from worker.errors import InvalidInput

if TYPE_CHECKING:
    from worker.config import Settings

# Protected whatever PROTECTED_PATHS says (an empty setting used to remove every protection):
# the repository's history, CI (which runs with the machine's rights) and the schema.
ALWAYS_PROTECTED = (".git/**", ".ci/**", "migrations/**")
MAX_PATH_CHARS = 1024
MAX_COMPONENT_BYTES = 255
_DRIVE = re.compile(r"^[A-Za-z]:")
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


class PathRejected(InvalidInput):
    """A patch path broke a rule; ``rule`` is the rule's short name."""

    def __init__(self, field: str, path: str, rule: str, explanation: str) -> None:
        super().__init__(field, f"{path!r} is not allowed (rule {rule}: {explanation})")
        self.path = path
        self.rule = rule


@dataclass(frozen=True)
class PathPolicy:
    allowed: tuple[str, ...]
    protected: tuple[str, ...]

    def __post_init__(self) -> None:
        extra = tuple(glob for glob in ALWAYS_PROTECTED if glob not in self.protected)
        object.__setattr__(self, "protected", (*self.protected, *extra))

    @classmethod
    def from_settings(cls, settings: Settings) -> PathPolicy:
        return cls(tuple(settings.allowed_paths), tuple(settings.protected_paths))


# A symlink lookup: given a repository-relative prefix, the link's target if it is a symlink.
SymlinkLookup = Callable[[str], str | None]


def check_path(path: object, policy: PathPolicy, *, field: str = "path",
               symlink_target: SymlinkLookup | None = None) -> str:
    """Return ``path`` when every rule passes; raise PathRejected naming the first broken rule."""

    def reject(rule: str, explanation: str) -> PathRejected:
        return PathRejected(field, str(path), rule, explanation)

    if not isinstance(path, str):
        raise reject("type", "must be a string")
    for rule, explanation in _lexical_problems(path):
        raise reject(rule, explanation)
    if any(_protected_regex(glob).match(_fold(path)) for glob in policy.protected):
        glob = next(g for g in policy.protected if _protected_regex(g).match(_fold(path)))
        raise reject("protected", f"matches protected glob {glob!r}")
    if not any(_allowed_regex(glob).match(path) for glob in policy.allowed):
        raise reject("not-allowed", "matches none of ALLOWED_PATHS")
    if symlink_target is not None:
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            target = symlink_target(prefix)
            if target is not None:
                where = "leaves the repository" if _escapes(prefix, target) else "is a link"
                raise reject("symlink", f"{prefix!r} is a symlink to {target!r} that {where}; "
                             "patches never write through symlinks")
    return path


def check_paths(paths: Iterable[object], policy: PathPolicy, *, field: str = "patches",
                symlink_target: SymlinkLookup | None = None) -> list[str]:
    """Check every path (``field[i].path`` names the culprit); duplicates are rejected too."""
    seen: set[str] = set()
    checked = []
    for index, path in enumerate(paths):
        name = f"{field}[{index}].path"
        checked.append(check_path(path, policy, field=name, symlink_target=symlink_target))
        key = _fold(checked[-1])
        if key in seen:
            raise PathRejected(name, checked[-1], "duplicate",
                               "the same file appears twice in one change")
        seen.add(key)
    return checked


def _lexical_problems(path: str) -> Iterable[tuple[str, str]]:
    """Rules that need nothing but the string; the first yielded one is reported."""
    if path == "" or not path.strip():
        yield "empty", "a path is required"
    if "\x00" in path:
        yield "nul", "contains a NUL byte"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in path):
        yield "control-character", "contains control or invisible formatting characters"
    if len(path) > MAX_PATH_CHARS:
        yield "too-long", f"longer than {MAX_PATH_CHARS} characters"
    if "\\" in path:
        yield "backslash", "use forward slashes; backslashes are Windows separators"
    if path.startswith("/"):
        yield "absolute", "must be relative to the repository root"
    if _DRIVE.match(path):
        yield "drive", "drive letters are absolute Windows paths"
    if path.startswith("~"):
        yield "home", "'~' would expand to a home directory"
    if _PERCENT_ESCAPE.search(path):
        yield "url-encoded", "percent-escapes are not decoded; write the plain path"
    if unicodedata.normalize("NFKC", path) != path:
        yield "unicode", "contains look-alike (compatibility) characters; use the plain form"
    parts = path.split("/")
    if ".." in parts:
        yield "traversal", "'..' climbs out of the directory"
    if "" in parts or "." in parts:
        yield "not-normalized", "empty or '.' components (write the normalized path)"
    for part in parts:
        if len(part.encode("utf-8", "surrogatepass")) > MAX_COMPONENT_BYTES:
            yield "too-long", f"a component is longer than {MAX_COMPONENT_BYTES} bytes"
        if part != part.strip() or part.endswith("."):
            yield "windows-trick", f"component {part!r} ends in a dot or space or has padding"
        if part.casefold() in (".git", "git~1"):
            yield "git-internal", "writes inside a .git directory"
        if ":" in part:
            yield "drive", "':' marks drives and alternate data streams"


def _fold(path: str) -> str:
    return unicodedata.normalize("NFKC", path).casefold()


@lru_cache(maxsize=256)
def _allowed_regex(glob: str) -> re.Pattern[str]:
    return re.compile(_glob_to_regex(glob.strip().lstrip("/")) + r"\Z")


@lru_cache(maxsize=256)
def _protected_regex(glob: str) -> re.Pattern[str]:
    glob = glob.strip()
    anchored = "/" in glob.rstrip("/")
    body = _glob_to_regex(_fold(glob.lstrip("/")).rstrip("/"))
    # A directory pattern also protects everything inside it.
    body = f"{body}(?:/.*)?"
    return re.compile((body if anchored else f"(?:.*/)?{body}") + r"\Z",
                      re.IGNORECASE | re.DOTALL)


def _glob_to_regex(glob: str) -> str:
    segments = glob.split("/")
    out: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            out.append(".+" if last else "(?:[^/]+/)*")
            continue
        out.append(_segment_to_regex(segment) + ("" if last else "/"))
    return "".join(out)


def _segment_to_regex(segment: str) -> str:
    out, i = [], 0
    while i < len(segment):
        ch = segment[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[" and "]" in segment[i + 1:]:
            end = segment.index("]", i + 1)
            body = segment[i + 1:end].replace("\\", "\\\\")
            out.append(f"[^{body[1:]}]" if body.startswith("!") else f"[{body}]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def _escapes(prefix: str, target: str) -> bool:
    if target.startswith("/") or _DRIVE.match(target):
        return True
    joined = os.path.normpath(os.path.join(os.path.dirname(prefix), target))
    return joined == ".." or joined.startswith("../")


def disk_symlinks(repo: Path) -> SymlinkLookup:
    """Symlink lookup in a working tree on disk."""

    def lookup(prefix: str) -> str | None:
        candidate = repo / prefix
        return os.readlink(candidate) if candidate.is_symlink() else None

    return lookup


def either(*lookups: SymlinkLookup) -> SymlinkLookup:
    def lookup(prefix: str) -> str | None:
        for one in lookups:
            target = one(prefix)
            if target is not None:
                return target
        return None

    return lookup
