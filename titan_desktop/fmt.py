"""Formatting shared by the tabs: durations, sizes, times, status colours."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtGui import QColor

from titan_desktop.palette import ACCENT, DANGER, MUTED, SUCCESS, TEXT, WARNING

STATUS_COLORS = {
    "queued": MUTED, "scaffold": ACCENT, "build": ACCENT, "deploy": ACCENT,
    "verify": ACCENT, "publish": ACCENT, "running": ACCENT,
    "awaiting_approval": WARNING, "published": SUCCESS, "succeeded": SUCCESS,
    "rejected": DANGER, "failed": DANGER, "dead": DANGER, "lost": DANGER,
    "cancelled": MUTED, "released": MUTED, "paused": WARNING,
}
LEVEL_COLORS = {"DEBUG": MUTED, "WARNING": WARNING, "ERROR": DANGER, "CRITICAL": DANGER}


def status_color(status: str | None) -> QColor:
    return QColor(STATUS_COLORS.get(status or "", TEXT))


def status_label(status: str | None) -> str:
    return (status or "").replace("_", " ")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(max(0, seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def elapsed(start: datetime | None, end: datetime | None = None) -> str:
    if start is None:
        return ""
    return duration(((end or datetime.now(UTC)) - start).total_seconds())


def size(num: int | None) -> str:
    if num is None:
        return ""
    value = float(num)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(num)


def when(ts: datetime | None) -> str:
    if ts is None:
        return ""
    return ts.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def clock(ts: datetime | None) -> str:
    if ts is None:
        return ""
    return ts.astimezone().strftime("%H:%M:%S.%f")[:-3]


def one_line(text: str | None, limit: int = 160) -> str:
    if not text:
        return ""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
