"""Reading the structured log: filtered pages (keyset on id) and a live follow.

Text search is ``message ILIKE '%text%'``, served by a trigram GIN index for three characters or
more (migration 0008): where PostgreSQL has pg_trgm, ``ix_log_entries_message_trgm`` serves the
ILIKE itself; elsewhere (the embedded pgserver lacks pg_trgm) the query adds
``titan_trigrams(message) @> titan_trigrams(text)``, which ``ix_log_entries_message_3grams``
serves and which holds for every line the ILIKE matches.

With pg_trgm, the newest page of a text search reads the log from the newest line back in
id windows (``LogService._search_newest``): PostgreSQL prices an ILIKE as cheap, so for a word
on ~1 % of the lines it walks the primary key back through ~50,000 lines testing each (about
1 µs apiece), or fetches all ~10,000 matches through the trigram index and sorts them; a window
sized from the matches the first one found lets the trigram index and the id range meet
(BitmapAnd) instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, Select, Text, func, select
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import array as pg_array

from worker.db.engine import Database
from worker.db.models import LogEntry
from worker.services.events import EventStream

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# A newest-first text search reads this many ids per line wanted first (the primary key walks
# them at most: ~1 µs each), then a window sized from what matched there (with 25 % to spare).
FIRST_WINDOW_PER_LINE = 10
WINDOW_SPARE = 1.25
# Windows wider than this are read through the trigram index only (no walk of the primary key).
WALK_AT_MOST = 20_000
# ... and so is the rest of the log, when fewer than this share of the lines so far matched.
SPARSE = 0.02
FALLBACK_INDEX = "ix_log_entries_message_3grams"
# Per database URL: does it search through titan_trigrams (no pg_trgm there)?
_uses_own_trigrams: dict[str, bool] = {}


@dataclass(frozen=True)
class LogFilter:
    project_id: int | None = None
    job_id: int | None = None
    worker_id: str | None = None
    # Minimum level: WARNING shows WARNING, ERROR and CRITICAL.
    level: str | None = None
    text: str | None = None
    # Written at or after ``since`` and before ``until``.
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, query: Select[Any], *, own_trigrams: bool = False) -> Select[Any]:
        """``query`` narrowed to the entries this filter lets through; ``own_trigrams``: the
        database indexes ``titan_trigrams(message)`` instead of pg_trgm's."""
        if self.project_id is not None:
            query = query.where(LogEntry.project_id == self.project_id)
        if self.job_id is not None:
            query = query.where(LogEntry.job_id == self.job_id)
        if self.worker_id:
            query = query.where(LogEntry.worker_id == self.worker_id)
        if self.level and self.level in LEVELS:
            query = query.where(LogEntry.level.in_(LEVELS[LEVELS.index(self.level):]))
        if self.text:
            escaped = self.text.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
            # The plain ILIKE form on the column itself: that is what gin_trgm_ops indexes.
            query = query.where(LogEntry.message.ilike(f"%{escaped}%"))
            if own_trigrams and len(self.text) >= 3:
                grams = func.titan_trigrams(LogEntry.message, type_=ARRAY(Text))
                lowered: list[Any] = [func.lower(g) for g in spaced_trigrams(self.text)]
                needle = pg_array(lowered, type_=Text)
                query = query.where(grams.op("@>", is_comparison=True)(needle))
        if self.since is not None:
            query = query.where(LogEntry.ts >= self.since)
        if self.until is not None:
            query = query.where(LogEntry.ts < self.until)
        return query


def spaced_trigrams(text: str) -> list[str]:
    """Every third 3-gram of ``text`` and its last one: enough to find the lines through the
    index (the ILIKE checks the rest). All of them would make PostgreSQL, which takes them as
    independent, expect a common word ("deploy": 4 grams of 20 % each) in 0.2^4 of the lines
    and read 40,000 through the index instead of walking the newest ones."""
    grams = [text[i:i + 3] for i in range(0, len(text) - 2, 3)]
    return list(dict.fromkeys([*grams, text[-3:]]))


class LogService:
    """The structured log for every front end: filtered pages and a live follow."""

    def __init__(self, db: Database, settings: Any = None) -> None:
        self.db = db
        self.settings = settings

    async def query(self, flt: LogFilter, *, limit: int = 200, before_id: int | None = None,
                    after_id: int | None = None, newest_first: bool = True) -> list[LogEntry]:
        """One page of lines matching ``flt``, keyset-paged on id (``before_id`` for older
        pages, ``after_id`` for newer ones)."""
        own_trigrams = bool(flt.text) and await self._uses_own_trigrams()
        if (flt.text and len(flt.text) >= 3 and newest_first and after_id is None
                and not own_trigrams):
            return await self._search_newest(flt, limit, before_id)
        query = flt.apply(select(LogEntry), own_trigrams=own_trigrams)
        if before_id is not None:
            query = query.where(LogEntry.id < before_id)
        if after_id is not None:
            query = query.where(LogEntry.id > after_id)
        query = query.order_by(LogEntry.id.desc() if newest_first else LogEntry.id).limit(limit)
        async with self.db.session() as session:
            if flt.text:
                # psycopg prepares a statement run 5 times; PostgreSQL may then plan it once for
                # any pattern, and that generic plan walks the primary key through every row
                # (3.7 s at a million lines) where a rare word needs the trigram index (1 ms).
                await session.execute(sql_text("SET LOCAL plan_cache_mode = force_custom_plan"))
            return list((await session.scalars(query)).all())

    async def _search_newest(self, flt: LogFilter, limit: int,
                             before_id: int | None) -> list[LogEntry]:
        """The newest ``limit`` lines matching ``flt`` (a text search) below ``before_id``,
        read in id windows: the newest ``FIRST_WINDOW_PER_LINE * limit`` ids, then a window as
        wide as the matches found there say the rest of the page needs, then the rest.

        pg_trgm only: with Titan's own trigrams (spaced grams, some common) the planner then
        read the 3-gram index for a narrow window where one query walked the newest lines
        (1 % of lines, 100 a page: 49 ms instead of 27 on the embedded server)."""
        base = flt.apply(select(LogEntry))
        rows: list[LogEntry] = []
        async with self.db.session() as session:
            # See query(): a generic plan would ignore both the pattern and the window.
            await session.execute(sql_text("SET LOCAL plan_cache_mode = force_custom_plan"))
            top = before_id
            if top is None:
                newest = await session.scalar(select(func.max(LogEntry.id)))
                if newest is None:
                    return []
                top = int(newest) + 1
            window = FIRST_WINDOW_PER_LINE * limit
            low: int | None = max(top - window, 0)
            walked = 0
            for _ in range(3):  # the first window, one sized from it, the rest
                page = base.where(LogEntry.id < top)
                if low is not None:
                    page = page.where(LogEntry.id >= low)
                page = page.order_by(LogEntry.id.desc()).limit(limit - len(rows))
                rows += (await session.scalars(page)).all()
                walked += top - (low or 0)
                if len(rows) >= limit or not low:
                    break
                top = low
                if rows and walked == window:  # size the second window from the first
                    window = int((limit - len(rows)) * walked / len(rows) * WINDOW_SPARE) + 1
                    low = max(top - window, 0)
                else:  # nothing matched yet (a rare word), or still short: the rest
                    window, low = top, None
                if window > WALK_AT_MOST or len(rows) < SPARSE * walked:
                    # Wide or sparse: through the trigram index, with the id range where there
                    # is one (BitmapAnd), never a walk of the primary key testing every line.
                    await session.execute(sql_text("SET LOCAL enable_indexscan = off"))
        return rows

    async def _uses_own_trigrams(self) -> bool:
        known = _uses_own_trigrams.get(self.db.url)
        if known is None:
            async with self.db.session() as session:
                known = bool(await session.scalar(sql_text(
                    "SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE tablename = 'log_entries' "
                    "AND indexname = :name)"), {"name": FALLBACK_INDEX}))
            _uses_own_trigrams[self.db.url] = known
        return known

    async def last_id(self) -> int:
        """The newest log line's id (0 for an empty log): where a follow starts."""
        async with self.db.session() as session:
            return int(await session.scalar(select(func.coalesce(func.max(LogEntry.id), 0))) or 0)

    async def follow(self, flt: LogFilter, *, after_id: int,
                     poll_seconds: float = 1.0) -> AsyncIterator[LogEntry]:
        """New lines as they are written: woken by NOTIFY titan_events, polling as a
        fallback."""
        wake = asyncio.Event()

        async def listen() -> None:
            with contextlib.suppress(Exception):
                async with EventStream(self.db.url) as stream:
                    async for payload in stream.payloads():
                        if '"log_entries"' in payload:
                            wake.set()

        listener = asyncio.create_task(listen())
        try:
            while True:
                rows = await self.query(flt, after_id=after_id, limit=500, newest_first=False)
                for row in rows:
                    after_id = row.id
                    yield row
                if len(rows) < 500:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), poll_seconds)
                    wake.clear()
        finally:
            listener.cancel()


def entry_dict(entry: LogEntry) -> dict[str, Any]:
    """A log line as a JSON-ready dict (the API's and ``titan logs --json``'s shape)."""
    return {"id": entry.id, "ts": entry.ts.isoformat(), "level": entry.level,
            "logger": entry.logger, "message": entry.message, "projectId": entry.project_id,
            "jobId": entry.job_id, "runId": entry.run_id, "workerId": entry.worker_id,
            "extra": entry.extra}


# Thin aliases for ``titan logs`` (worker/cli.py).
async def query_logs(db: Database, flt: LogFilter, *, limit: int = 200,
                     before_id: int | None = None, after_id: int | None = None,
                     newest_first: bool = True) -> list[LogEntry]:
    """``LogService(db).query(...)``."""
    return await LogService(db).query(flt, limit=limit, before_id=before_id,
                                      after_id=after_id, newest_first=newest_first)


def follow(db: Database, flt: LogFilter, *, after_id: int,
           poll_seconds: float = 1.0) -> AsyncIterator[LogEntry]:
    """``LogService(db).follow(...)``."""
    return LogService(db).follow(flt, after_id=after_id, poll_seconds=poll_seconds)
