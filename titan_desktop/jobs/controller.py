"""Jobs view controller: the filter, live refresh, counts, and the bulk actions.

A bulk action asks first: the controller counts the jobs the action would change (in the
database, off the UI thread), then ``confirmNeeded`` reaches the view on a queued connection,
outside any coroutine, where a modal question may run its own event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal

from titan_desktop.context import AppContext
from titan_desktop.jobs.model import JobTableModel
from titan_desktop.tasks import Reloader
from worker.errors import TitanError
from worker.services.jobs import JobFilter, JobService, Selection

VERBS = {"retry": "Retry", "discard": "Discard", "cancel": "Cancel"}
# What each action does, for the question and the feedback line.
EFFECTS = {
    "retry": "queued again with fresh attempts (dead, failed and cancelled jobs)",
    "discard": "deleted with their runs (finished jobs only: dead, cancelled, succeeded)",
    "cancel": "cancelled (queued, scheduled, retrying and running jobs; a running job's "
              "result will not count)",
}
PAST = {"retry": "retried", "discard": "discarded", "cancel": "cancelled"}
COUNT_MS = 2000  # live recounts at most this often ...
COUNT_MAX_MS = 30_000  # ... and at least this often while jobs change


@dataclass(frozen=True)
class Pending:
    """A bulk action waiting for the person's yes: what, on which jobs, how many."""

    action: str
    selection: Selection
    count: int
    scope: str  # "the 3 selected jobs" / "all jobs matching the filter"


class JobsController(QObject):
    countChanged = Signal(int)  # jobs matching the filter (-1: counting)
    optionsLoaded = Signal(object, object, object)  # kinds, worker ids, {project id: name}
    confirmNeeded = Signal(object)  # Pending
    feedback = Signal(str)

    def __init__(self, ctx: AppContext, parent: QObject | None = None, *,
                 page_size: int = 200, refresh_ms: int = 400) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.service = JobService(ctx.db, ctx.settings)
        self.model = JobTableModel(ctx, self.service, page_size=page_size, parent=self)
        self.matching = -1
        # The view says whether it is on screen: a hidden view skips live refreshes (they
        # would cost the UI loop for nothing) and catches up when shown.
        self.is_shown: Callable[[], bool] = lambda: True
        self._stale = False
        self._options_stale = False
        self._options: tuple[object, ...] | None = None
        self._refresher = Reloader(ctx, self._refresh)
        self._counter = Reloader(ctx, self._count)
        self._optioner = Reloader(ctx, self._load_options)
        # Live events arrive up to 10 times a second; the list refreshes at most every
        # refresh_ms and the (costlier) count at most every 2 s, or every 100 times its last
        # duration when that is longer: counting a million jobs keeps PostgreSQL busy on every
        # core for ~0.1 s, which the UI thread then waits for (every ~5-10 s at that size).
        self._refresh_timer = QTimer(self, singleShot=True, interval=refresh_ms)
        self._refresh_timer.timeout.connect(self._refresher.request)
        self._count_timer = QTimer(self, singleShot=True, interval=COUNT_MS)
        self._count_timer.timeout.connect(self._counter.request)
        # Workers heart-beat and count their jobs: "workers" changes several times a second
        # while jobs run; the filter's choices reload at most every 5 s (and not while hidden).
        self._options_timer = QTimer(self, singleShot=True, interval=5000)
        self._options_timer.timeout.connect(self._optioner.request)
        ctx.events.tablesChanged.connect(self._on_tables)

    def start(self) -> None:
        self.model.reload()
        self._counter.request()
        self._optioner.request()

    def apply(self, flt: JobFilter) -> None:
        """A new filter: the first page and the count load at once."""
        if flt != self.model.filter:
            self.model.set_filter(flt)
            self.matching = -1
            self.countChanged.emit(-1)
            self._counter.request()

    # -- live ----------------------------------------------------------------------------------

    def shown(self) -> None:
        """The view came on screen: catch up on what changed while it was hidden."""
        if self._stale:
            self._stale = False
            self._refresher.request()
            self._counter.request()
        if self._options_stale:
            self._options_stale = False
            self._optioner.request()

    def _on_tables(self, tables: set[str]) -> None:
        if "jobs" in tables and not self.is_shown():
            self._stale = True
        elif "jobs" in tables:
            if not self._refresh_timer.isActive():
                self._refresh_timer.start()
            if not self._count_timer.isActive():
                self._count_timer.start()
        if "workers" in tables or "projects" in tables:
            if not self.is_shown():
                self._options_stale = True
            elif not self._options_timer.isActive():
                self._options_timer.start()

    async def _refresh(self) -> None:
        await self.model.refresh()

    async def _count(self) -> None:
        flt = self.model.filter
        started = time.monotonic()
        count = await self.service.count(flt)
        took_ms = (time.monotonic() - started) * 1000
        self._count_timer.setInterval(int(min(max(COUNT_MS, 100 * took_ms), COUNT_MAX_MS)))
        if flt == self.model.filter:
            self.matching = count
            self.countChanged.emit(count)

    async def _load_options(self) -> None:
        kinds = await self.service.kinds()
        workers = await self.service.worker_ids()
        projects = await self.ctx.projects.names(500)
        options = (kinds, workers, projects)
        if options != self._options:  # refilling the combo boxes re-lays out the filter bar
            self._options = options
            self.optionsLoaded.emit(kinds, workers, projects)

    # -- bulk actions --------------------------------------------------------------------------

    def request(self, action: str, ids: Sequence[int] | None) -> None:
        """Count what ``action`` would change (on ``ids``, or on every job the filter
        matches when None), then ask (``confirmNeeded``)."""
        try:
            selection = (Selection(ids=list(ids)) if ids is not None
                         else Selection(flt=self.model.filter))
        except TitanError as exc:
            self.feedback.emit(str(exc))
            return
        scope = (f"the {len(ids):,} selected job{'s' if len(ids) != 1 else ''}"
                 if ids is not None else "all jobs matching the filter")
        self.ctx.spawn(self._count_then_ask(action, selection, scope))

    async def _count_then_ask(self, action: str, selection: Selection, scope: str) -> None:
        count = await self.service.count_for(action, selection)
        if count == 0:
            self.feedback.emit(f"Nothing to {action}: none of {scope} can be {PAST[action]}.")
            return
        self.confirmNeeded.emit(Pending(action, selection, count, scope))

    def perform(self, pending: Pending) -> None:
        """The person said yes."""
        self.ctx.spawn(self._perform(pending))

    async def _perform(self, pending: Pending) -> None:
        act = {"retry": self.service.retry, "discard": self.service.discard,
               "cancel": self.service.cancel}[pending.action]
        try:
            done = await act(pending.selection)
        except TitanError as exc:
            self.feedback.emit(str(exc))
            return
        self.feedback.emit(f"{PAST[pending.action].capitalize()} {done:,} "
                           f"job{'s' if done != 1 else ''}.")
        self._refresher.request()
        self._counter.request()


def question_text(pending: Pending) -> str:
    """The confirmation's words: they name the count."""
    jobs = f"{pending.count:,} job{'s' if pending.count != 1 else ''}"
    return (f"{VERBS[pending.action]} {jobs}?\n\nOf {pending.scope}, {jobs} will be "
            f"{EFFECTS[pending.action]}.")
