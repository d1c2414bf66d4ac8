"""Which day is "today": sales days are calendar days in the machine's time zone."""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def local_timezone() -> ZoneInfo:
    """The IANA zone of this machine (``TZ``, then /etc/localtime), falling back to UTC.

    A named zone rather than a fixed offset so PostgreSQL buckets days across DST changes the
    same way Python does.
    """
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = str(Path("/etc/localtime").resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in candidates:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def day_start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def today(now: datetime, tz: ZoneInfo) -> date:
    return now.astimezone(tz).date()


def days_ago(now: datetime, tz: ZoneInfo, days: int) -> datetime:
    """Start of the day ``days`` calendar days before today (0 = today's midnight)."""
    return day_start(today(now, tz) - timedelta(days=days), tz)
