"""What a job handler is given (``JobContext``) and where job kinds are registered
(``Registry``). The pipeline and the ops loop import this to register their kinds;
``worker.handlers`` wires them into the default registry, so nothing here imports them back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from worker.logs import StructLogger, get_logger
from worker.queue import ClaimedJob, NewJob

if TYPE_CHECKING:
    from worker.config import Settings
    from worker.db.engine import Database


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

