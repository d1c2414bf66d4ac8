"""Job handlers: what a job kind does. The pipeline and the ops loop register theirs here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worker.logs import StructLogger, get_logger
from worker.queue import ClaimedJob, NewJob

if TYPE_CHECKING:
    from worker.config import Settings
    from worker.db.engine import Database


class PermanentError(Exception):
    """A failure retrying cannot fix (bad spec, missing template): the job goes straight to dead."""


@dataclass
class JobContext:
    job: ClaimedJob
    worker_id: str
    db: Database
    settings: Settings
    log: StructLogger = field(default_factory=lambda: _JOB_LOG)
    # Enqueued in the same transaction that marks this job succeeded, and only then.
    followups: list[NewJob] = field(default_factory=list)

    def then(self, job: NewJob) -> None:
        self.followups.append(job)


_JOB_LOG: StructLogger = get_logger("titan.job")
Handler = Callable[[JobContext], Awaitable[None]]
# Called once when a job is dead (out of attempts, permanent error, or lease lost too often).
DeadHook = Callable[["Database", int, str, dict[str, Any]], Awaitable[None]]


@dataclass
class Registry:
    handlers: dict[str, Handler] = field(default_factory=dict)
    dead_hooks: dict[str, DeadHook] = field(default_factory=dict)
    # Modules that register more kinds, imported the first time an unknown kind is asked for:
    # the pipeline and the ops loop (with httpx, Jinja2, SQLAlchemy) cost a worker that runs
    # only plain jobs nothing.
    plugins: list[Callable[[Registry], None]] = field(default_factory=list)

    def register(self, kind: str, handler: Handler, *, on_dead: DeadHook | None = None) -> None:
        self.handlers[kind] = handler
        if on_dead is not None:
            self.dead_hooks[kind] = on_dead

    def handler(self, kind: str) -> Handler | None:
        if kind not in self.handlers:
            self.load_plugins()
        return self.handlers.get(kind)

    def dead_hook(self, kind: str) -> DeadHook | None:
        if kind not in self.handlers:
            self.load_plugins()
        return self.dead_hooks.get(kind)

    def load_plugins(self) -> None:
        plugins, self.plugins = self.plugins, []
        for plugin in plugins:
            plugin(self)


def default_registry() -> Registry:
    """Every built-in job kind: the project pipeline, the ops loop, and ``noop`` for benchmarks."""
    registry = Registry(plugins=[_register_pipeline, _register_ops])
    registry.register("noop", _noop)
    registry.register("fail", _always_fail)
    return registry


def _register_pipeline(registry: Registry) -> None:
    from worker.pipeline.jobs import register

    register(registry)


def _register_ops(registry: Registry) -> None:
    from worker.ops.jobs import register

    register(registry)


async def _noop(ctx: JobContext) -> None:
    """Does nothing; ``payload.sleep`` makes it take that long (tests and benchmarks), only on
    the first ``payload.sleep_attempts`` attempts when that is given; ``payload.touch`` names a
    file that gets "<job id> <worker id>" per execution (tests count side effects);
    ``payload.stamp`` one that gets "<job id> <time.time() at start>" (pickup latency benchmark).
    Both files are inside the worker's work folder (TITAN_HOME/work; relative names are taken
    from there): a path outside it fails the job for good and writes nothing."""
    import asyncio
    import time

    started = time.time()
    targets = {key: _inside_work_folder(ctx, key) for key in ("touch", "stamp")
               if ctx.job.payload.get(key)}
    seconds = float(ctx.job.payload.get("sleep", 0) or 0)
    sleep_attempts = ctx.job.payload.get("sleep_attempts")
    if sleep_attempts is not None and ctx.job.attempts > int(sleep_attempts):
        seconds = 0
    if seconds:
        await asyncio.sleep(seconds)
    if "touch" in targets:
        with targets["touch"].open("a", encoding="utf-8") as fh:
            fh.write(f"{ctx.job.id} {ctx.worker_id}\n")
    if "stamp" in targets:  # bench/queue_vs_peers.py: when the handler started, on the wall clock
        with targets["stamp"].open("a", encoding="utf-8") as fh:
            fh.write(f"{ctx.job.id} {started:.6f}\n")


def _inside_work_folder(ctx: JobContext, key: str) -> Path:
    """``payload[key]`` as a path inside the work folder (symlinks resolved), or PermanentError."""
    folder = ctx.settings.work_dir.resolve()
    raw = ctx.job.payload[key]
    if not isinstance(raw, str) or "\x00" in raw:
        raise PermanentError(f"noop: payload.{key} must be a file name")
    path = (folder / raw).resolve()
    if not path.is_relative_to(folder) or path == folder:
        raise PermanentError(f"noop: payload.{key} {raw[:200]!r} is outside the worker's work "
                             f"folder {folder}; noop writes only there")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


async def _always_fail(ctx: JobContext) -> None:
    raise RuntimeError(ctx.job.payload.get("message", "this job always fails"))
