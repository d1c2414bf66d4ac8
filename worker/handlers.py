"""Job handlers: the built-in job kinds and the default registry, which loads the pipeline's
and the ops loop's kinds on first use.

``JobContext``, ``Registry`` and the handler types live in ``worker.jobkit`` (the pipeline and the
ops loop import them from there, so they never import this module back); they and
``PermanentError`` are re-exported here for the runner and for templates written against it.
"""

from __future__ import annotations

from pathlib import Path

from worker.errors import PermanentError
from worker.jobkit import DeadHook, Handler, JobContext, Registry

__all__ = ["DeadHook", "Handler", "JobContext", "PermanentError", "Registry", "default_registry"]


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
