"""``/api/logs``: the structured log, filtered and keyset-paged, and followed live as SSE.

``GET /api/logs`` answers newest first; ``nextCursor`` (the oldest id on the page) fetches the
next, older page. ``GET /api/logs/stream`` is ``text/event-stream``: one ``log`` event per new
line (``id:`` is the line's id, so a reconnecting client's ``Last-Event-ID`` resumes where it
left off), a ``ready`` event once it listens, and a comment every ``KEEPALIVE_SECONDS`` so
proxies keep the connection open. It ends when the client goes away. Both read through
``LogService`` (worker/services/logquery.py), the same code the Logs tab uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from worker.api.deps import DB
from worker.api.errors import reject_unstorable_text
from worker.db.models import LogEntry
from worker.services.logquery import LEVELS, LogFilter, LogService, entry_dict

router = APIRouter(prefix="/api/logs", tags=["logs"])

KEEPALIVE_SECONDS = 15.0
# Each follower holds one LISTEN connection to PostgreSQL: cap them so a loop of clients cannot
# use up the server's connections.
MAX_FOLLOWERS = 32
BIG_ID = 2**63 - 1
Level = Literal[LEVELS]  # type: ignore[valid-type]  # from the runtime tuple


def _utc(value: datetime | None) -> datetime | None:
    # A time without a zone is read as UTC (the log's timestamps are UTC).
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def log_query(
    project: Annotated[int | None, Query(ge=1, le=BIG_ID, description="a project's id")] = None,
    job: Annotated[int | None, Query(ge=1, le=BIG_ID, description="a job's id")] = None,
    worker: Annotated[str | None, Query(min_length=1, max_length=100,
                                        description="a worker's id")] = None,
    level: Annotated[Level | None, Query(
        description="minimum level: WARNING shows WARNING, ERROR and CRITICAL")] = None,
    text: Annotated[str | None, Query(
        min_length=1, max_length=500,
        description="case-insensitive substring of the message (indexed from 3 characters "
                    "where PostgreSQL has pg_trgm)")] = None,
    since: Annotated[datetime | None, Query(
        description="written at or after this time (ISO 8601; no zone means UTC)")] = None,
    until: Annotated[datetime | None, Query(
        description="written before this time (ISO 8601; no zone means UTC)")] = None,
) -> LogFilter:
    """The filters both endpoints take (query parameters)."""
    reject_unstorable_text(worker, "worker")
    reject_unstorable_text(text, "text")
    return LogFilter(project_id=project, job_id=job, worker_id=worker, level=level, text=text,
                     since=_utc(since), until=_utc(until))


Filters = Annotated[LogFilter, Depends(log_query)]


@router.get("", summary="log lines, newest first, filtered and keyset-paged")
async def list_logs(
    db: DB, filters: Filters,
    cursor: Annotated[int | None, Query(
        ge=1, le=BIG_ID, description="the previous page's nextCursor: lines older than it")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    rows = await LogService(db).query(filters, limit=limit, before_id=cursor)
    return {"items": [entry_dict(r) for r in rows], "limit": limit,
            "nextCursor": rows[-1].id if len(rows) == limit else None}


@router.get(
    "/stream", summary="follow the log: new lines as server-sent events",
    response_class=StreamingResponse,
    responses={200: {"description": "``text/event-stream``: ``event: ready`` once listening, "
                                    "then ``event: log`` per line (``id:`` the line's id, "
                                    "``data:`` the line as JSON, as in GET /api/logs)",
                     "content": {"text/event-stream": {"schema": {"type": "string"}}}},
               503: {"description": "too many followers already"}})
async def stream_logs(
    request: Request, db: DB, filters: Filters,
    after: Annotated[int | None, Query(
        ge=0, le=BIG_ID, description="send lines newer than this id first (default: only "
                                     "lines written from now on)")] = None,
    last_event_id: Annotated[str | None, Header(
        alias="Last-Event-ID", max_length=20,
        description="sent by a reconnecting EventSource: resume after this line")] = None,
) -> StreamingResponse:
    if last_event_id is not None and last_event_id.strip().isdigit():
        after = min(int(last_event_id.strip()), BIG_ID)
    state = request.app.state
    followers = getattr(state, "log_followers", 0)
    if followers >= MAX_FOLLOWERS:
        raise HTTPException(503, f"{MAX_FOLLOWERS} clients already follow the log; try later")
    service = LogService(db)
    start = after if after is not None else await service.last_id()

    async def events() -> AsyncIterator[str]:
        # Counted from the first event on: a client gone before it never starts this generator,
        # whose ``finally`` would then never run.
        state.log_followers = getattr(state, "log_followers", 0) + 1
        try:
            yield f"event: ready\ndata: {json.dumps({'after': start})}\n\n"
            async for item in _with_keepalives(service.follow(filters, after_id=start)):
                if item is None:
                    yield ": keepalive\n\n"
                else:
                    yield f"id: {item.id}\nevent: log\ndata: {json.dumps(entry_dict(item))}\n\n"
        finally:
            state.log_followers -= 1

    # no-cache, and X-Accel-Buffering for nginx: each event reaches the client as it is sent.
    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _with_keepalives(lines: AsyncIterator[LogEntry]) -> AsyncIterator[LogEntry | None]:
    """``lines``, with a None whenever KEEPALIVE_SECONDS pass without one."""
    queue: asyncio.Queue[LogEntry] = asyncio.Queue(maxsize=1000)

    async def pump() -> None:
        async for line in lines:
            await queue.put(line)

    task = asyncio.create_task(pump())
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, task}, timeout=KEEPALIVE_SECONDS,
                                         return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                yield getter.result()
                continue
            getter.cancel()
            if task in done:
                task.result()  # the reader failed (the database went away): end with its error
                return
            yield None
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        # Closing the generator runs LogService.follow's cleanup (its LISTEN connection).
        with contextlib.suppress(Exception):
            await lines.aclose()  # type: ignore[attr-defined]  # an async generator, typed as an iterator
