"""Every job across projects, as a queue dashboard shows them: filtered, sorted, keyset-paged,
and acted on in bulk (retry, discard, cancel) by id or by a whole filter.

The states a person filters by are views of the ``jobs`` columns (worker/queue.py):

| state       | rows                                                                  |
|-------------|-----------------------------------------------------------------------|
| queued      | ``status = 'queued'``, never attempted (or released), due now         |
| scheduled   | ``status = 'queued'``, never attempted, due later (``run_at`` ahead)  |
| retrying    | ``status = 'queued'`` after at least one failed or lost attempt       |
| running     | ``status = 'running'`` (a worker holds its lease)                     |
| succeeded   | ``status = 'succeeded'``                                              |
| dead        | ``status IN ('dead', 'failed')``: out of attempts, or a permanent error |
| cancelled   | ``status = 'cancelled'``                                              |

Pages are keyset-paged on ``(sort column, id)``: a page is one indexed range scan however deep
it is, never an OFFSET. Bulk statements are single UPDATE/DELETE statements, so the triggers on
``jobs`` send one NOTIFY each (``titan_jobs`` wakes the workers for retried jobs; the GUI hears
``titan_events``), and the claim's ``FOR UPDATE SKIP LOCKED`` hands each retried job to exactly
one worker.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from worker.db.engine import Database
from worker.errors import InvalidInput

STATES = ("queued", "scheduled", "running", "retrying", "dead", "cancelled", "succeeded")
# SQL over the alias ``j`` (a jobs row) for each state.
_STATE_SQL = {
    "queued": "j.status = 'queued' AND j.attempts = 0 AND j.run_at <= now()",
    "scheduled": "j.status = 'queued' AND j.attempts = 0 AND j.run_at > now()",
    "retrying": "j.status = 'queued' AND j.attempts > 0",
    "running": "j.status = 'running'",
    "succeeded": "j.status = 'succeeded'",
    "dead": "j.status IN ('dead', 'failed')",
    "cancelled": "j.status = 'cancelled'",
}
_STATE_OF_ROW = """CASE
    WHEN j.status = 'queued' AND j.attempts > 0 THEN 'retrying'
    WHEN j.status = 'queued' AND j.run_at > now() THEN 'scheduled'
    WHEN j.status = 'failed' THEN 'dead'
    ELSE j.status END"""
# Which jobs each bulk action may touch (a live job is cancelled first, never deleted).
RETRYABLE = ("dead", "failed", "cancelled")
CANCELLABLE = ("queued", "running")
DISCARDABLE = ("dead", "failed", "cancelled", "succeeded")
# Sort keys (API and UI names) -> column. Each is NOT NULL, so (column, id) orders totally.
SORTS = {"id": "j.id", "runAt": "j.run_at", "updatedAt": "j.updated_at",
         "attempts": "j.attempts", "kind": "j.kind"}
_TIMESTAMP_SORTS = ("runAt", "updatedAt")
MAX_LIMIT = 1000
MAX_IDS = 100_000
BIGINT_MAX = 2**63 - 1


@dataclass(frozen=True)
class JobFilter:
    """Which jobs: any combination; None means "any"."""

    state: str | None = None
    kind: str | None = None
    project_id: int | None = None
    worker: str | None = None

    def check(self) -> JobFilter:
        """Raises InvalidInput naming the bad field; returns self."""
        if self.state is not None and self.state not in STATES:
            raise InvalidInput("state", f"{self.state!r} is not a job state (one of: "
                                        f"{', '.join(STATES)})")
        if self.kind is not None and not 0 < len(self.kind) <= 50:
            raise InvalidInput("kind", "must be 1 to 50 characters")
        if self.project_id is not None and not 0 < self.project_id <= BIGINT_MAX:
            raise InvalidInput("project", "must be a positive id")
        if self.worker is not None and not 0 < len(self.worker) <= 100:
            raise InvalidInput("worker", "must be 1 to 100 characters")
        for name, value in (("kind", self.kind), ("worker", self.worker)):
            if value is not None and "\x00" in value:
                raise InvalidInput(name, "must not contain NUL characters")
        return self

    def where(self, params: dict[str, Any]) -> str:
        """The SQL condition over ``j`` (adds its bind values to ``params``)."""
        parts = ["TRUE"]
        if self.state:
            parts.append(_STATE_SQL[self.state])
        if self.kind:
            parts.append("j.kind = :f_kind")
            params["f_kind"] = self.kind
        if self.project_id is not None:
            parts.append("j.project_id = :f_project")
            params["f_project"] = self.project_id
        if self.worker:
            # The worker holding it now, or one that ran an attempt of it.
            parts.append("(j.locked_by = :f_worker OR EXISTS (SELECT 1 FROM runs r "
                         "WHERE r.job_id = j.id AND r.worker_id = :f_worker))")
            params["f_worker"] = self.worker
        return " AND ".join(parts)


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the last row's sort value and id (the next page starts after it)."""

    sort: str
    value: Any
    id: int

    def encode(self) -> str:
        """The cursor as an opaque URL-safe token (the API's ``next`` / ``after``)."""
        value = self.value.isoformat() if isinstance(self.value, datetime) else self.value
        raw = json.dumps([self.sort, value, self.id], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, sort: str) -> Cursor:
        """The cursor ``encode`` made for ``sort``; InvalidInput("after") for anything else."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            name, value, job_id = json.loads(raw)
            if name != sort:
                raise ValueError
            if not isinstance(job_id, int) or isinstance(job_id, bool) \
                    or not 0 < job_id <= BIGINT_MAX:
                raise ValueError
            if sort in _TIMESTAMP_SORTS:
                value = datetime.fromisoformat(value)
                if value.tzinfo is None:
                    raise ValueError
            elif sort in ("id", "attempts"):
                if not isinstance(value, int) or isinstance(value, bool) \
                        or abs(value) > BIGINT_MAX:
                    raise ValueError
            elif not isinstance(value, str) or "\x00" in value:
                raise ValueError
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise InvalidInput("after", f"not a cursor of a page sorted by {sort}") from None
        return cls(sort, value, job_id)


@dataclass(frozen=True, slots=True)
class JobRow:
    """One job as the Jobs view and ``GET /api/jobs`` show it."""

    id: int
    kind: str
    state: str  # one of STATES
    status: str  # the raw jobs.status
    attempts: int
    max_attempts: int
    priority: int
    run_at: datetime
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    last_error: str | None
    project_id: int | None
    project_name: str | None
    worker: str | None  # holding it now, else the worker of its latest attempt

    def sort_value(self, sort: str) -> Any:
        """This row's value of the ``sort`` key."""
        return {"id": self.id, "runAt": self.run_at, "updatedAt": self.updated_at,
                "attempts": self.attempts, "kind": self.kind}[sort]

    def cursor(self, sort: str) -> Cursor:
        """Where a page ending at this row ends, in ``sort`` order."""
        return Cursor(sort, self.sort_value(sort), self.id)

    def as_dict(self) -> dict[str, Any]:
        """The job as JSON (camelCase keys, ISO times)."""
        def ts(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {"id": self.id, "kind": self.kind, "state": self.state, "status": self.status,
                "attempts": self.attempts, "maxAttempts": self.max_attempts,
                "priority": self.priority, "runAt": ts(self.run_at),
                "createdAt": ts(self.created_at), "updatedAt": ts(self.updated_at),
                "startedAt": ts(self.started_at), "finishedAt": ts(self.finished_at),
                "lastError": self.last_error, "projectId": self.project_id,
                "projectName": self.project_name, "worker": self.worker}


@dataclass(frozen=True)
class Page:
    rows: list[JobRow]
    next: Cursor | None  # None: this was the last page


# The selected columns of a page; the outer query adds the project's name and the worker.
_PAGE = """
    SELECT j.id, j.kind, {state} AS state, j.status, j.attempts, j.max_attempts, j.priority,
           j.run_at, j.created_at, j.updated_at, j.started_at, j.finished_at, j.last_error,
           j.project_id, p.name AS project_name,
           coalesce(j.locked_by, (SELECT r.worker_id FROM runs r WHERE r.job_id = j.id
                                  ORDER BY r.id DESC LIMIT 1)) AS worker
    FROM ({source}) j
    LEFT JOIN projects p ON p.id = j.project_id
    ORDER BY {order}
"""
# A page by updated_at: finished jobs through ix_jobs_finished_updated (its predicate spelled
# as in migration 0012, so that the planner sees it implied), live ones through the claim and
# lease indexes (an OR, not an IN: each arm implies one partial index's predicate), merged.
_BY_UPDATED = """
    SELECT * FROM (
        (SELECT * FROM jobs j WHERE {where} AND j.status NOT IN ('queued', 'running')
         ORDER BY {order} LIMIT :limit)
        UNION ALL
        (SELECT * FROM jobs j WHERE {where} AND (j.status = 'queued' OR j.status = 'running')
         ORDER BY {order} LIMIT :limit)) j
    ORDER BY {order} LIMIT :limit
"""


class Selection:
    """What a bulk action acts on: explicit ids, or every job a filter matches."""

    def __init__(self, *, ids: Sequence[int] | None = None,
                 flt: JobFilter | None = None) -> None:
        if (ids is None) == (flt is None):
            raise InvalidInput("ids", "give either ids or a filter")
        if ids is not None:
            if not 0 < len(ids) <= MAX_IDS:
                raise InvalidInput("ids", f"must hold 1 to {MAX_IDS:,} job ids")
            if any(not 0 < i <= BIGINT_MAX for i in ids):
                raise InvalidInput("ids", "must be positive job ids")
        self.ids = list(dict.fromkeys(ids)) if ids is not None else None
        self.filter = flt.check() if flt is not None else None

    def where(self, params: dict[str, Any]) -> str:
        """The SQL condition over ``j`` (adds its bind values to ``params``)."""
        if self.ids is not None:
            params["s_ids"] = self.ids
            return "j.id = ANY(CAST(:s_ids AS bigint[]))"
        assert self.filter is not None
        return self.filter.where(params)


class JobService:
    """The queue across projects, for the desktop's Jobs view, the REST API and the CLI."""

    def __init__(self, db: Database, settings: Any = None) -> None:
        self.db = db
        self.settings = settings

    async def page(self, flt: JobFilter = JobFilter(), *, sort: str = "id",
                   descending: bool = True, after: Cursor | None = None,
                   limit: int = 100) -> Page:
        """One page of jobs matching ``flt`` in ``sort`` order (ties by id), starting after
        ``after``. ``next`` is the cursor of the following page, or None at the end."""
        flt.check()
        if sort not in SORTS:
            raise InvalidInput("sort", f"{sort!r} is not a sort key (one of: {', '.join(SORTS)})")
        if not 0 < limit <= MAX_LIMIT:
            raise InvalidInput("limit", f"must be 1 to {MAX_LIMIT}")
        if after is not None and after.sort != sort:
            raise InvalidInput("after", f"not a cursor of a page sorted by {sort}")
        params: dict[str, Any] = {"limit": limit + 1}
        where = flt.where(params)
        column = SORTS[sort]
        direction = "DESC" if descending else "ASC"
        if after is not None:
            # A row comparison: the (column, id) index range starts right after the cursor.
            where += f" AND ({column}, j.id) {'<' if descending else '>'} (:a_value, :a_id)"
            params["a_value"], params["a_id"] = after.value, after.id
        order = f"{column} {direction}, j.id {direction}" if sort != "id" else f"j.id {direction}"
        if sort == "updatedAt" and flt.state is None:
            # ix_jobs_finished_updated (0012) holds finished jobs only, so that enqueues and
            # claims never write it: the live jobs (few, through their own partial indexes)
            # are merged in.
            source = _BY_UPDATED.format(where=where, order=order)
        else:
            source = f"SELECT * FROM jobs j WHERE {where} ORDER BY {order} LIMIT :limit"
        sql = _PAGE.format(state=_STATE_OF_ROW, source=source, order=order)
        async with self.db.session() as session:
            rows = [JobRow(*row) for row in (await session.execute(text(sql), params)).all()]
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, rows[-1].cursor(sort) if more and rows else None)

    async def count(self, flt: JobFilter = JobFilter()) -> int:
        """How many jobs match ``flt`` (what the confirmation names)."""
        flt.check()
        params: dict[str, Any] = {}
        sql = f"SELECT count(*) FROM jobs j WHERE {flt.where(params)}"
        async with self.db.session() as session:
            return int(await session.scalar(text(sql), params) or 0)

    async def count_for(self, action: str, selection: Selection) -> int:
        """How many of the selected jobs ``action`` (retry, discard, cancel) would act on."""
        statuses = _ACTION_STATUSES[action]
        params: dict[str, Any] = {"statuses": list(statuses)}
        sql = (f"SELECT count(*) FROM jobs j WHERE {selection.where(params)} "
               "AND j.status = ANY(CAST(:statuses AS text[]))")
        async with self.db.session() as session:
            return int(await session.scalar(text(sql), params) or 0)

    async def get(self, job_id: int) -> JobRow | None:
        """One job by id, or None."""
        if not 0 < job_id <= BIGINT_MAX:
            return None
        params: dict[str, Any] = {"limit": 1, "id": job_id}
        sql = _PAGE.format(state=_STATE_OF_ROW, order="j.id",
                           source="SELECT * FROM jobs j WHERE j.id = :id LIMIT :limit")
        async with self.db.session() as session:
            row = (await session.execute(text(sql), params)).first()
        return None if row is None else JobRow(*row)

    # -- bulk actions ---------------------------------------------------------------------------

    async def retry(self, selection: Selection) -> int:
        """Queue the selected dead, failed and cancelled jobs again, due now, with fresh
        attempts; returns how many. Each runs once more (the claim gives it to one worker).

        Two jobs may not both be live under one dedupe key: a job whose key a live job holds
        stays as it is, and of several dead jobs with one key only the newest is retried.
        Their projects, if failed or cancelled, are queued again (as ``titan project retry``
        does)."""
        params: dict[str, Any] = {}
        sql = f"""
            WITH candidates AS (
                SELECT j.id, j.dedupe_key FROM jobs j
                WHERE {selection.where(params)} AND j.status IN ('dead', 'failed', 'cancelled')
            ), chosen AS (
                SELECT id FROM candidates WHERE dedupe_key IS NULL
                UNION ALL
                SELECT id FROM (
                    SELECT DISTINCT ON (c.dedupe_key) c.id FROM candidates c
                    WHERE c.dedupe_key IS NOT NULL AND NOT EXISTS (
                        SELECT 1 FROM jobs l WHERE l.dedupe_key = c.dedupe_key
                          AND l.status IN ('queued', 'running'))
                    ORDER BY c.dedupe_key, c.id DESC) newest
            ), retried AS (
                UPDATE jobs SET status = 'queued', attempts = 0, run_at = now(),
                                last_error = NULL, locked_by = NULL, locked_until = NULL,
                                finished_at = NULL, updated_at = now()
                WHERE id IN (SELECT id FROM chosen) AND status IN ('dead', 'failed', 'cancelled')
                RETURNING id, project_id
            ), projects_again AS (
                UPDATE projects SET status = 'queued', last_error = NULL, finished_at = NULL,
                                    updated_at = now()
                WHERE id IN (SELECT project_id FROM retried WHERE project_id IS NOT NULL)
                  AND status IN ('failed', 'cancelled')
            )
            SELECT count(*) FROM retried
        """
        for attempt in range(3):
            try:
                async with self.db.session() as session:
                    return int(await session.scalar(text(sql), params) or 0)
            except IntegrityError:  # a job with the same dedupe key was enqueued meanwhile
                if attempt == 2:
                    raise
        return 0  # not reached

    async def cancel(self, selection: Selection) -> int:
        """Cancel the selected queued, scheduled, retrying and running jobs; returns how many.

        As ``queue.cancel`` does: a running job's handler is not interrupted, but its result
        no longer counts (its completion finds the job cancelled and records nothing). A
        project left with no live job is marked cancelled (as ``titan project cancel`` does)."""
        params: dict[str, Any] = {}
        sql = f"""
            WITH cancelled AS (
                UPDATE jobs AS j SET status = 'cancelled', locked_by = NULL, locked_until = NULL,
                                     finished_at = now(), updated_at = now()
                WHERE {selection.where(params)} AND j.status IN ('queued', 'running')
                RETURNING j.id, j.project_id
            ), projects_stopped AS (
                UPDATE projects p SET status = 'cancelled', finished_at = now(),
                                      updated_at = now()
                WHERE p.id IN (SELECT project_id FROM cancelled WHERE project_id IS NOT NULL)
                  AND p.status NOT IN ('published', 'rejected', 'failed', 'cancelled')
                  AND NOT EXISTS (SELECT 1 FROM jobs l WHERE l.project_id = p.id
                                    AND l.status IN ('queued', 'running')
                                    AND l.id NOT IN (SELECT id FROM cancelled))
            )
            SELECT count(*) FROM cancelled
        """
        async with self.db.session() as session:
            return int(await session.scalar(text(sql), params) or 0)

    async def discard(self, selection: Selection) -> int:
        """Delete the selected finished jobs (dead, failed, cancelled, succeeded) and their
        runs; returns how many. Live jobs are left alone: cancel them first."""
        params: dict[str, Any] = {}
        sql = (f"DELETE FROM jobs j WHERE {selection.where(params)} "
               "AND j.status IN ('dead', 'failed', 'cancelled', 'succeeded')")
        async with self.db.session() as session:
            result = await session.execute(text(sql), params)
        return int(result.rowcount)  # type: ignore[attr-defined]  # a DELETE's CursorResult

    # -- what the filter bar offers -------------------------------------------------------------

    async def kinds(self) -> list[str]:
        """Job kinds to offer in a filter: those of the newest 10,000 jobs (cheap at any
        size; the filter accepts any other kind typed in)."""
        async with self.db.session() as session:
            rows = await session.scalars(text("""
                SELECT DISTINCT kind FROM (SELECT kind FROM jobs ORDER BY id DESC LIMIT 10000) k
                ORDER BY kind"""))
            return list(rows.all())

    async def worker_ids(self, limit: int = 200) -> list[str]:
        """Worker ids to offer in a filter, most recently alive first."""
        async with self.db.session() as session:
            rows = await session.scalars(text(
                "SELECT id FROM workers ORDER BY last_heartbeat DESC LIMIT :limit"),
                {"limit": limit})
            return list(rows.all())


_ACTION_STATUSES = {"retry": RETRYABLE, "cancel": CANCELLABLE, "discard": DISCARDABLE}
ACTIONS = tuple(_ACTION_STATUSES)
