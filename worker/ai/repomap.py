"""A repository map for a model: the file list and each Python file's top-level symbols, ranked
for a request, plus the full text of the few files that fit it best.

Ranking is plain word overlap: the request's words (identifiers split at ``_``, ``-``, ``.``
and camelCase, lower-cased, common English words dropped) are looked for in each file's path
(weight 3), its top-level symbols (weight 2) and its text (weight 1, at most 3 hits a word).
Symbols come from ``ast`` (``def f(a, b)``, ``async def``, ``class C(Base)`` and UPPER_CASE
constants); a file that does not parse is listed without them. Everything is bounded: the map's
characters, the files listed, the files shown in full, each file's characters and theirs together.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

SKIPPED_FOLDERS = {".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache",
                   "node_modules", ".venv", "venv", ".tox", "dist", "build", ".ci",
                   ".eggs", "htmlcov"}
MAP_CHARS = 12_000  # the map's text
MAX_FILES = 2_000  # files walked
TOP_FILES = 4  # files shown in full
FILE_CHARS = 20_000  # one file's text shown
FILES_CHARS = 40_000  # all files shown in full, together
READ_BYTES = 200_000  # files larger than this are listed, never read or parsed
STOPWORDS = frozenset((
    "a", "an", "the", "to", "of", "in", "on", "at", "for", "from", "by", "with", "and", "or",
    "not", "no", "is", "are", "be", "it", "its", "this", "that", "these", "those", "add", "adds",
    "make", "makes", "so", "as", "into", "when", "if", "then", "than", "do", "does", "please",
    "can", "should", "would", "could", "i", "we", "you", "our", "your", "my", "me", "us", "new",
    "use", "using", "way", "also", "just"))
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def words(text: str) -> set[str]:
    """The request's (or a name's) words: lower-cased, identifiers split, stopwords dropped."""
    found: set[str] = set()
    for token in _WORD.findall(text):
        found.add(token.lower())
        found.update(part.lower() for part in _CAMEL.findall(token))
    return {w for w in found if len(w) > 1 and w not in STOPWORDS}


@dataclass
class FileEntry:
    path: str
    symbols: list[str] = field(default_factory=list)
    score: int = 0
    text: str | None = None  # None: binary, too large or unreadable


@dataclass
class RepoMap:
    entries: list[FileEntry]  # ranked, best first
    request_words: set[str]

    def top(self, count: int = TOP_FILES) -> list[FileEntry]:
        """The best-ranked files that matched the request at all and have text to show."""
        return [e for e in self.entries if e.score > 0 and e.text is not None][:count]

    def render(self, max_chars: int = MAP_CHARS) -> str:
        """The map as text: ranked files with their symbols, then bare names, within bounds."""
        lines: list[str] = []
        used = 0
        left_out = 0
        for entry in self.entries:
            line = entry.path
            if entry.symbols:
                line += ": " + ", ".join(entry.symbols)
            if used + len(line) + 1 > max_chars:
                bare = entry.path
                if used + len(bare) + 1 > max_chars:
                    left_out += 1
                    continue
                line = bare
            lines.append(line)
            used += len(line) + 1
        if left_out:
            lines.append(f"({left_out} more files not listed)")
        return "\n".join(lines)

    def files_text(self, count: int = TOP_FILES, file_chars: int = FILE_CHARS,
                   total_chars: int = FILES_CHARS) -> str:
        """The best files' text, each cut at ``file_chars``, all of them at ``total_chars``."""
        blocks = []
        budget = total_chars
        for entry in self.top(count):
            if budget <= 0:
                break
            text = entry.text or ""
            cut = text[:min(file_chars, budget)]
            budget -= len(cut)
            note = "" if len(cut) == len(text) else f"\n(cut: {len(text):,} characters in all)"
            blocks.append(f"### {entry.path}\n```\n{cut}\n```{note}")
        return "\n\n".join(blocks)


def python_symbols(source: str) -> list[str]:
    """Top-level functions (with their arguments), classes (with bases) and UPPER constants."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    symbols: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
            prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
            symbols.append(f"{prefix} {node.name}({', '.join(args)})")
        elif isinstance(node, ast.ClassDef):
            bases = [ast.unparse(b) for b in node.bases]
            symbols.append(f"class {node.name}" + (f"({', '.join(bases)})" if bases else ""))
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            symbols.extend(t.id for t in targets
                           if isinstance(t, ast.Name) and t.id.isupper())
    return symbols


def list_files(root: Path, limit: int = MAX_FILES) -> list[str]:
    """Regular files under ``root`` (relative POSIX paths), sorted; links and caches skipped."""
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_FOLDERS
                         and not (Path(folder) / d).is_symlink())
        for name in sorted(files):
            full = Path(folder) / name
            if full.is_symlink() or not full.is_file():
                continue
            found.append(full.relative_to(root).as_posix())
            if len(found) >= limit:
                return found
    return found


def _read(full: Path) -> str | None:
    try:
        if full.stat().st_size > READ_BYTES:
            return None
        data = full.read_bytes()
    except OSError:
        return None
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def build_map(root: Path, request: str, *, include: Callable[[str], bool] | None = None,
              extra_words: Iterable[str] = ()) -> RepoMap:
    """The map of the files under ``root`` (only those ``include`` accepts), ranked for
    ``request``."""
    wanted = words(request) | set(extra_words)
    entries: list[FileEntry] = []
    for path in list_files(root):
        if include is not None and not include(path):
            continue
        text = _read(root / path)
        entry = FileEntry(path, text=text)
        if text is not None and path.endswith(".py"):
            entry.symbols = python_symbols(text)
        path_words = words(path)
        symbol_words = words(" ".join(entry.symbols))
        lowered = (text or "").lower()
        for word in wanted:
            if word in path_words:
                entry.score += 3
            if word in symbol_words:
                entry.score += 2
            if lowered:
                entry.score += min(lowered.count(word), 3)
        entries.append(entry)
    entries.sort(key=lambda e: (-e.score, e.path))
    return RepoMap(entries, wanted)
