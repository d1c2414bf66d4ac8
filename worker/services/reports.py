"""What Jason says when asked how things are: published, failed and why, awaiting a decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, text

from worker.db.engine import Database
from worker.db.models import Project


@dataclass
class StatusReport:
    published: list[Project] = field(default_factory=list)  # within the window
    failed: list[Project] = field(default_factory=list)
    awaiting: list[Project] = field(default_factory=list)
    in_progress: list[Project] = field(default_factory=list)
    jobs_by_status: dict[str, int] = field(default_factory=dict)
    since: datetime | None = None

    def spoken(self) -> str:
        """A few sentences a person can listen to."""
        parts = []
        if self.published:
            parts.append(f"Published {_count(self.published, 'project')}: "
                         f"{_names(self.published)}.")
        if self.failed:
            reasons = "; ".join(f"{p.name} failed at {p.stage or 'start'}: "
                                f"{_short(p.last_error)}" for p in self.failed[:3])
            parts.append(f"{_count(self.failed, 'project')} failed. {reasons}.")
        if self.awaiting:
            parts.append(f"{_count(self.awaiting, 'project')} awaiting your decision: "
                         f"{_names(self.awaiting)}.")
        if self.in_progress:
            parts.append("In progress: " + ", ".join(
                f"{p.name} at {p.stage or 'queued'}" for p in self.in_progress[:5]) + ".")
        if not parts:
            return "Nothing has happened yet: no projects are running, failed or waiting."
        return " ".join(parts)


def _count(items: list, noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _names(projects: list[Project], limit: int = 5) -> str:
    names = [p.name for p in projects[:limit]]
    more = len(projects) - limit
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def _short(error: str | None, limit: int = 120) -> str:
    line = (error or "unknown error").strip().splitlines()[0] if error else "unknown error"
    return line if len(line) <= limit else line[:limit - 1] + "…"


class ReportService:
    """Summaries of the whole system in words (Jason's "status", the chat's answers)."""

    def __init__(self, db: Database, settings: object = None) -> None:
        self.db = db
        self.settings = settings

    async def status(self, *, window: timedelta = timedelta(hours=24)) -> StatusReport:
        """What was published and failed within ``window``, what waits, and the queue."""
        return await status_report(self.db, window=window)


async def status_report(db: Database, *, window: timedelta = timedelta(hours=24)
                        ) -> StatusReport:
    """Projects published within ``window``, failed, awaiting approval and in
    progress, with the queue's job counts."""
    async with db.session() as session:
        now = (await session.execute(text("SELECT now()"))).scalar_one()
        since = now - window
        projects = (await session.scalars(
            select(Project).order_by(Project.updated_at.desc()).limit(500))).all()
        rows = await session.execute(text("SELECT status, count(*) FROM jobs GROUP BY status"))
        jobs = {status: count for status, count in rows}
    report = StatusReport(jobs_by_status=jobs, since=since)
    for p in projects:
        if p.status == "published" and p.published_at and p.published_at >= since:
            report.published.append(p)
        elif p.status == "failed":
            report.failed.append(p)
        elif p.status == "awaiting_approval":
            report.awaiting.append(p)
        elif p.status not in ("published", "rejected", "cancelled"):
            report.in_progress.append(p)
    return report


def project_sentence(p: Project) -> str:
    """One sentence on where the project stands, as Jason says it."""
    if p.status == "published":
        return f"{p.name} is published at {p.url}." if p.url else f"{p.name} is published."
    if p.status == "failed":
        return f"{p.name} failed at {p.stage or 'start'}: {_short(p.last_error)}"
    if p.status == "awaiting_approval":
        return f"{p.name} passed verification and is waiting for your approval."
    if p.status in ("rejected", "cancelled"):
        return f"{p.name} was {p.status}" + (f": {_short(p.last_error)}" if p.last_error
                                              else ".")
    return f"{p.name} is at {p.stage or 'the start'}, {p.progress:.0%} done."
