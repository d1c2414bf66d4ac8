"""Structured logging: JSON lines (readable text on a terminal) on stdout and batched rows in
``log_entries``.

Ids (project, job, run, worker) travel in a context variable, so a handler's log lines carry
them without passing them around; ``asyncio`` tasks and ``asyncio.to_thread`` copy the context.
Configured secret values are replaced by ``***`` before a line is written anywhere.
"""

from __future__ import annotations

import contextvars
import copy
import json
import logging
import logging.handlers
import queue
import sys
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from worker.db.raw import WorkerConnection

ID_FIELDS = ("project_id", "job_id", "run_id", "worker_id")
_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar(
    "titan_log_context", default={}  # noqa: B039 - never mutated, always replaced
)


@contextmanager
def log_context(**ids: Any) -> Iterator[None]:
    """Attach ids to every log line written inside the block (and tasks started in it)."""
    token = _context.set({**_context.get(), **{k: v for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def bind_context(**ids: Any) -> None:
    """Set ids for the rest of the current task (use inside a task that owns its context)."""
    _context.set({**_context.get(), **{k: v for k, v in ids.items() if v is not None}})


class StructLogger:
    """``log.info("Rendered pages", pages=5)``: a message plus structured fields."""

    def __init__(self, name: str) -> None:
        self._logger = logging.getLogger(name)

    def _log(self, level: int, message: str, fields: dict[str, Any]) -> None:
        if self._logger.isEnabledFor(level):
            self._logger.log(level, message, extra={"titan_fields": fields}, stacklevel=3)

    def enabled(self, level: int) -> bool:
        return self._logger.isEnabledFor(level)

    def debug(self, message: str, /, **fields: Any) -> None:
        self._log(logging.DEBUG, message, fields)

    def info(self, message: str, /, **fields: Any) -> None:
        self._log(logging.INFO, message, fields)

    def warning(self, message: str, /, **fields: Any) -> None:
        self._log(logging.WARNING, message, fields)

    def error(self, message: str, /, **fields: Any) -> None:
        self._log(logging.ERROR, message, fields)


def get_logger(name: str) -> StructLogger:
    return StructLogger(name)


class _Scrubber:
    """Replaces configured secret values by ``***``: in raw text before it is encoded (so a
    secret with ``"``, ``\\`` or a newline is caught before JSON escapes it), and in its
    JSON-escaped form too (a field that already holds JSON text)."""

    def __init__(self) -> None:
        self.secrets: list[str] = []

    def configure(self, secrets: list[str] | None) -> None:
        forms = set()
        for secret in secrets or []:
            forms.add(secret)
            forms.add(json.dumps(secret)[1:-1])
            forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
        self.secrets = sorted((f for f in forms if f), key=len, reverse=True)

    def __call__(self, value: str) -> str:
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, "***")
        return value

    def tree(self, value: Any) -> Any:
        """A copy of a JSON-ready structure with every string (keys too) scrubbed; other
        objects become their scrubbed ``str()``, as ``json.dumps(default=str)`` would show them."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self(str(k)): self.tree(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.tree(v) for v in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return self(str(value))


scrub = _Scrubber()


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured view of a record: ids from the context plus the call's own fields."""
    ids = dict(getattr(record, "titan_ids", None) or _context.get())
    extra = dict(getattr(record, "titan_fields", {}) or {})
    for key in ID_FIELDS:
        if key in extra:
            ids[key] = extra.pop(key)
    if record.exc_info and record.exc_info[1] is not None:
        extra["exception"] = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
    return {"ids": ids, "extra": extra}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = record_fields(record)
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **{k: v for k, v in fields["ids"].items() if v is not None},
        }
        if fields["extra"]:
            line["extra"] = fields["extra"]
        return json.dumps(scrub.tree(line), ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """What a person at a terminal reads: time, level, project, message, then the details.

    ``2026-12-07 03:04:05 INFO    project 12  Rendered pages  pages=5 job=40``
    """

    def format(self, record: logging.LogRecord) -> str:
        fields = scrub.tree(record_fields(record))
        ids, extra = fields["ids"], fields["extra"]
        when = datetime.fromtimestamp(record.created).strftime("%Y-%m-%d %H:%M:%S")
        project = f"project {ids['project_id']}  " if ids.get("project_id") is not None else ""
        details = [f"{k}={_plain(v)}" for k, v in extra.items()]
        details += [f"{k.removesuffix('_id')}={v}" for k, v in ids.items()
                    if k != "project_id" and v is not None]
        message = " ".join(scrub(record.getMessage()).splitlines()) or "-"
        return (f"{when} {record.levelname:<7} {project}{message}"
                + (f"  {' '.join(details)}" if details else ""))


def _plain(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return json.dumps(text, ensure_ascii=False) if (not text or any(
        c.isspace() for c in text)) else text


class DatabaseLogSink(logging.Handler):
    """Buffers records; ``flush_to`` writes them to ``log_entries`` in one statement.

    The worker calls ``flush_to`` a few times a second. The buffer is bounded so a database
    outage cannot eat the machine's memory: the oldest lines are dropped (and counted).
    """

    def __init__(self, level: int = logging.INFO, capacity: int = 100_000) -> None:
        super().__init__(level)
        self._buffer: deque[tuple[Any, ...]] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self.dropped = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = record_fields(record)
            ids = fields["ids"]
            row = (
                datetime.fromtimestamp(record.created, UTC), record.levelname, record.name[:100],
                scrub(record.getMessage()), ids.get("project_id"), ids.get("job_id"),
                ids.get("run_id"), ids.get("worker_id"),
                json.dumps(scrub.tree(fields["extra"])),
            )
        except Exception:  # a log line must never break the code that wrote it
            self.handleError(record)
            return
        with self._lock:
            if len(self._buffer) == self._buffer.maxlen:
                self.dropped += 1
            self._buffer.append(row)

    def drain(self) -> list[tuple[Any, ...]]:
        with self._lock:
            rows = list(self._buffer)
            self._buffer.clear()
        return rows

    def requeue(self, rows: list[tuple[Any, ...]]) -> None:
        with self._lock:
            self._buffer.extendleft(reversed(rows))

    async def flush_to(self, connection: WorkerConnection) -> int:
        """Write buffered lines on a worker's own connection; on a database error keep them
        for the next try."""
        rows = self.drain()
        if not rows:
            return 0
        params = {
            "ts": [r[0] for r in rows], "level": [r[1] for r in rows],
            "logger": [r[2] for r in rows], "message": [r[3] for r in rows],
            "project_id": [r[4] for r in rows], "job_id": [r[5] for r in rows],
            "run_id": [r[6] for r in rows], "worker_id": [r[7] for r in rows],
            "extra": [r[8] for r in rows],
        }
        try:
            async with connection.use() as conn:
                await conn.execute(_INSERT_LOGS, params)
        except Exception:
            self.requeue(rows)
            raise
        return len(rows)


_INSERT_LOGS = """
    INSERT INTO log_entries (ts, level, logger, message, project_id, job_id, run_id, worker_id,
                             extra)
    SELECT ts, level, logger, message, project_id, job_id, run_id, worker_id, CAST(extra AS jsonb)
    FROM unnest(%(ts)s::timestamptz[], %(level)s::text[], %(logger)s::text[],
                %(message)s::text[], %(project_id)s::bigint[], %(job_id)s::bigint[],
                %(run_id)s::bigint[], %(worker_id)s::text[], %(extra)s::text[])
         AS u(ts, level, logger, message, project_id, job_id, run_id, worker_id, extra)
"""


class _BackgroundStreamHandler(logging.handlers.QueueHandler):
    """Formats in the caller (where the context ids are current), writes from a thread.

    Whoever reads our stdout may stop reading (a full pipe); that must never stall the event
    loop, so lines go through a bounded queue and are dropped (and counted) if it backs up.
    """

    _titan_stream = False  # True on the one configure_logging installed (it replaces it)

    def __init__(self, formatter: logging.Formatter, stream: TextIO,
                 capacity: int = 50_000) -> None:
        super().__init__(queue.Queue(capacity))
        self.setFormatter(formatter)
        writer = logging.StreamHandler(stream)
        writer.setFormatter(logging.Formatter("%(message)s"))
        self.listener = logging.handlers.QueueListener(self.queue, writer)
        self.listener.start()  # logging.shutdown() at exit closes us, which drains the queue
        self.dropped = 0

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        line = copy.copy(record)  # other handlers (the database sink) still see the original
        line.msg, line.args, line.exc_info, line.exc_text = self.format(record), None, None, None
        return line

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1

    def close(self) -> None:
        if self.listener._thread is not None:  # close() may be called twice
            self.listener.stop()
        super().close()


LOG_FORMATS = ("auto", "json", "text")


def use_json_lines(log_format: str, stream: TextIO) -> bool:
    """``auto``: JSON lines for programs (a pipe or file), readable text for a terminal."""
    if log_format == "json":
        return True
    if log_format == "text":
        return False
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        return True


def configure_logging(
    level: str | int = "INFO", *, stream: TextIO | None = None, json_lines: bool | None = None,
    secrets: list[str] | None = None, log_format: str = "auto",
) -> None:
    """Root logging for a Titan process: JSON (or readable text) lines on ``stream`` (stdout).

    ``json_lines`` forces the choice; otherwise ``log_format`` (auto, json, text) decides."""
    scrub.configure(secrets)
    stream = stream or sys.stdout
    if json_lines is None:
        json_lines = use_json_lines(log_format, stream)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_titan_stream", False):
            root.removeHandler(handler)
            handler.close()
    handler = _BackgroundStreamHandler(JsonFormatter() if json_lines else TextFormatter(), stream)
    handler._titan_stream = True
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    for noisy in ("sqlalchemy", "alembic", "httpx", "httpcore", "asyncio", "pgserver"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
