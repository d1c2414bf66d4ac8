"""Turns project row changes into events a person cares about (tray, chat threads).

Keeps the last seen (status, last_error) of recent projects; on every ``projects`` change it
re-reads them and emits one ``ProjectEvent`` per transition: started, step failed, awaiting
approval, published, failed, rejected, cancelled. The first read only learns the state.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from PySide6.QtCore import QObject

from titan_desktop.context import AppContext
from worker.services.projects import ProjectState


@dataclass(frozen=True)
class ProjectEvent:
    project_id: int
    name: str
    # started | step_failed | awaiting_approval | published | failed | rejected | cancelled
    kind: str
    text: str
    url: str | None = None


@dataclass(frozen=True)
class _Seen:
    status: str
    last_error: str | None


class ProjectWatcher(QObject):
    """Emits ``ctx.events.projectEvent`` (a ProjectEvent) for every transition."""

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._seen: dict[int, _Seen] = {}
        self._primed = False
        self._busy = False
        self._again = False
        ctx.events.tablesChanged.connect(self._on_tables)

    def _on_tables(self, tables: set[str]) -> None:
        if "projects" in tables:
            self.refresh()

    def refresh(self) -> None:
        if self._busy:
            self._again = True
            return
        self._busy = True
        self.ctx.spawn(self._refresh())

    async def _refresh(self) -> None:
        cancelled = False
        try:
            rows = await self.ctx.projects.recent_states(500)
            for row in rows:
                before = self._seen.get(row.id)
                self._seen[row.id] = _Seen(row.status, row.last_error)
                if self._primed:
                    for event in _transitions(row, before):
                        self.ctx.events.projectEvent.emit(event)
            self._primed = True
        except asyncio.CancelledError:
            cancelled = True  # the window is closing: no follow-up read to leave pending
            raise
        finally:
            self._busy = False
            if self._again and not cancelled:
                self._again = False
                self.refresh()


def _transitions(row: ProjectState, before: _Seen | None) -> list[ProjectEvent]:
    pid, name, status = row.id, row.name, row.status
    stage, error, url = row.stage, row.last_error, row.url
    old_status = before.status if before else None
    events: list[ProjectEvent] = []
    if status != old_status:
        if old_status in (None, "queued") and status in ("scaffold", "build", "deploy",
                                                         "verify", "publish"):
            events.append(ProjectEvent(pid, name, "started", f"{name}: started ({status})"))
        elif status == "awaiting_approval":
            events.append(ProjectEvent(pid, name, "awaiting_approval",
                                       f"{name}: verified, awaiting your approval"))
        elif status == "published":
            events.append(ProjectEvent(pid, name, "published", f"{name}: published", url))
        elif status == "failed":
            events.append(ProjectEvent(pid, name, "failed",
                                       f"{name}: failed at {stage or 'start'}: {error or ''}"))
        elif status in ("rejected", "cancelled"):
            events.append(ProjectEvent(pid, name, status, f"{name}: {status}"))
    if (error and status not in ("failed", "rejected", "cancelled")
            and (before is None or error != before.last_error) and before is not None):
        events.append(ProjectEvent(pid, name, "step_failed",
                                   f"{name}: {error} (retrying)"))
    return events
