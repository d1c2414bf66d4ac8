"""Reading a round's unified diff: which files it wrote, and +/- colouring for a text view."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QFont, QSyntaxHighlighter, QTextCharFormat, QTextDocument

from titan_desktop.palette import ACCENT, DANGER, MUTED, SUCCESS, TEXT_STRONG


@dataclass(frozen=True)
class FileChange:
    path: str
    change: str  # "new", "modified" or "deleted"
    line: int  # the line of its "--- " header in the diff (0-based)

    @property
    def label(self) -> str:
        return self.path if self.change == "modified" else f"{self.path} ({self.change})"


def _header_path(rest: str) -> str | None:
    path = rest.split("\t", 1)[0].strip()
    if path == "/dev/null":
        return None
    return path[2:] if path.startswith(("a/", "b/")) else path


def files_in_diff(diff: str) -> list[FileChange]:
    """The files a diff writes, from its ``--- a/x`` / ``+++ b/x`` headers, in diff order."""
    lines = diff.splitlines()
    files: list[FileChange] = []
    for i, line in enumerate(lines[:-1]):
        following = lines[i + 1]
        if not (line.startswith("--- ") and following.startswith("+++ ")):
            continue
        old, new = _header_path(line[4:]), _header_path(following[4:])
        if new is None and old is None:
            continue
        if old is None:
            files.append(FileChange(str(new), "new", i))
        elif new is None:
            files.append(FileChange(old, "deleted", i))
        else:
            files.append(FileChange(new, "modified", i))
    return files


def diff_counts(diff: str) -> tuple[int, int]:
    """Lines added and removed (headers not counted)."""
    added = removed = 0
    for line in diff.splitlines():
        if line.startswith("+") and not line.startswith("+++ "):
            added += 1
        elif line.startswith("-") and not line.startswith("--- "):
            removed += 1
    return added, removed


def _format(color: str, *, bold: bool = False) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setForeground(QColor(color))
    if bold:
        fmt.setFontWeight(QFont.Weight.Bold)
    return fmt


def tint(color: str, alpha: int = 30) -> QColor:
    """A light wash of ``color`` (the whole-line background of added and removed lines)."""
    wash = QColor(color)
    wash.setAlpha(alpha)
    return wash


def line_kind(text: str) -> str:
    """What a diff line is: header, hunk, added, removed, note or context."""
    if text.startswith(("+++ ", "--- ")):
        return "header"
    if text.startswith("@@"):
        return "hunk"
    if text.startswith("+"):
        return "added"
    if text.startswith("-"):
        return "removed"
    if text.startswith("\\"):
        return "note"
    return "context"


class DiffHighlighter(QSyntaxHighlighter):
    """Added lines green, removed lines red, hunk headers blue, file headers bold (the view
    washes whole added and removed lines too, see ``RoundsPanel``)."""

    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        self.formats = {"added": _format(SUCCESS), "removed": _format(DANGER),
                        "hunk": _format(ACCENT), "header": _format(TEXT_STRONG, bold=True),
                        "note": _format(MUTED)}

    def highlightBlock(self, text: str) -> None:
        fmt = self.formats.get(line_kind(text))
        if fmt is not None:
            self.setFormat(0, len(text), fmt)
