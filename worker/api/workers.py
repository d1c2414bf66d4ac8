"""``/api/workers``: every worker with its host, pid, version, counters and current jobs; tell
one to pause, resume or stop (the command reaches it on its next heartbeat, on any host)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query

from worker.api.deps import DB
from worker.services.workers import COMMANDS, STOPPED_SHOWN_SECONDS, WorkerDetail, WorkerService

router = APIRouter(prefix="/api/workers", tags=["workers"])
# Worker ids are "<host>-<pid>-<hex>"; the pattern keeps NULs and such out of the database.
WorkerId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:@-]+$",
                               description="the worker's id, as GET /api/workers lists it")]
Command = Literal[COMMANDS]  # type: ignore[valid-type]  # from the runtime tuple


def worker_dict(worker: WorkerDetail) -> dict[str, Any]:
    return {
        "id": worker.id, "host": worker.host, "pid": worker.pid, "version": worker.version,
        "concurrency": worker.concurrency, "status": worker.status,
        "startedAt": worker.started_at.isoformat(),
        "lastHeartbeat": worker.last_heartbeat.isoformat(),
        "heartbeatAgeSeconds": round(worker.age_seconds, 3),
        "stoppedAt": worker.stopped_at.isoformat() if worker.stopped_at else None,
        "processed": worker.processed, "succeeded": worker.jobs_succeeded,
        "failed": worker.jobs_failed,
        "currentJobs": [{"id": job.id, "kind": job.kind, "projectId": job.project_id,
                         "startedAt": job.started_at.isoformat() if job.started_at else None}
                        for job in worker.current_jobs],
    }


@router.get("", summary="workers: running, paused, stopping, lost, and those stopped in the "
                        "last hour (or stoppedWithinSeconds), newest first")
async def list_workers(
    db: DB,
    stopped_within_seconds: Annotated[float, Query(
        alias="stoppedWithinSeconds", ge=0, le=366 * 86400,
        description="also list workers stopped this recently")] = STOPPED_SHOWN_SECONDS,
) -> dict[str, Any]:
    workers = await WorkerService(db).details(stopped_within=stopped_within_seconds)
    return {"items": [worker_dict(w) for w in workers], "total": len(workers)}


@router.get("/{worker_id}", summary="one worker with its current jobs")
async def get_worker(worker_id: WorkerId, db: DB) -> dict[str, Any]:
    worker = await WorkerService(db).detail(worker_id)
    if worker is None:
        raise HTTPException(404, f"no worker {worker_id}")
    return worker_dict(worker)


@router.post("/{worker_id}/{command}", status_code=202,
             summary="tell one worker to pause (stop claiming), resume or stop (finish its "
                     "jobs and exit); it obeys on its next heartbeat")
async def command_worker(worker_id: WorkerId, command: Command, db: DB) -> dict[str, Any]:
    if not await WorkerService(db).send(worker_id, command):
        raise HTTPException(404, f"no worker {worker_id}")
    return {"id": worker_id, "command": command, "accepted": True}
