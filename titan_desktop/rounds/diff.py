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


def _format(color: str, *, bold: bool = False, background_alpha: int = 0) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setForeground(QColor(color))
    if bold:
        fmt.setFontWeight(QFont.Weight.Bold)
    if background_alpha:
        tint = QColor(color)
        tint.setAlpha(background_alpha)
        fmt.setBackground(tint)
    return fmt


class DiffHighlighter(QSyntaxHighlighter):
    """Added lines green, removed lines red, hunk headers blue, file headers bold."""

    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        self.added = _format(SUCCESS, background_alpha=28)
        self.removed = _format(DANGER, background_alpha=28)
        self.hunk = _format(ACCENT)
        self.header = _format(TEXT_STRONG, bold=True)
        self.note = _format(MUTED)

    def kind(self, text: str) -> str:
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

    def highlightBlock(self, text: str) -> None:
        fmt = getattr(self, self.kind(text), None)
        if fmt is not None:
            self.setFormat(0, len(text), fmt)
