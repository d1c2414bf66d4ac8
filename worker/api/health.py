"""``/health`` (is this Titan alive, and its database, workers and queue) and ``/metrics``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily

from worker import __version__
from worker.api.deps import DB
from worker.services.workers import WorkerService

router = APIRouter(tags=["health"])


async def _snapshot(db: Any) -> dict[str, Any]:
    service = WorkerService(db)
    jobs, durations = await service.queue_by_kind()
    return {"jobs": jobs, "durations": durations, "workers": await service.not_stopped()}


@router.get("/health", summary="status, uptime, version, database, workers, queue depth "
                            "(with TITAN_API_TOKEN set, only status without the bearer token)")
async def health(request: Request, db: DB) -> JSONResponse:
    if not getattr(request.state, "api_authenticated", False):
        return JSONResponse({"status": "ok"})  # liveness only: a stranger learns nothing more
    body: dict[str, Any] = {
        "status": "ok", "version": __version__,
        "uptimeSeconds": round(time.monotonic() - request.app.state.started, 3),
    }
    try:
        snap = await _snapshot(db)
    except Exception as exc:
        body.update(status="degraded", database={"reachable": False,
                                                  "error": f"{type(exc).__name__}"},
                    workers=[], queue={})
        return JSONResponse(body, status_code=503)
    queue: dict[str, int] = {}
    for row in snap["jobs"]:
        queue[row.status] = queue.get(row.status, 0) + row.n
    body.update(
        database={"reachable": True},
        workers=[{"id": w.id, "host": w.host, "pid": w.pid, "status": w.status,
                  "lastHeartbeat": w.last_heartbeat.isoformat(),
                  "lastHeartbeatAgeSeconds": round(w.age_seconds, 3)} for w in snap["workers"]],
        queue=queue,
    )
    return JSONResponse(body)


class _Snapshot:
    """A Prometheus collector over one database snapshot taken for this scrape."""

    def __init__(self, snap: dict[str, Any], uptime: float) -> None:
        self.snap, self.uptime = snap, uptime

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("titan_jobs", "jobs by kind and status",
                                 labels=["kind", "status"])
        depth: dict[str, int] = {}
        for row in self.snap["jobs"]:
            jobs.add_metric([row.kind, row.status], row.n)
            depth[row.status] = depth.get(row.status, 0) + row.n
        yield jobs
        queue = GaugeMetricFamily("titan_queue_depth", "jobs per status", labels=["status"])
        for status, n in sorted(depth.items()):
            queue.add_metric([status], n)
        yield queue
        durations = SummaryMetricFamily("titan_job_duration_seconds",
                                        "time spent running jobs, by kind", labels=["kind"])
        for row in self.snap["durations"]:
            durations.add_metric([row.kind], row.n, float(row.seconds))
        yield durations
        beats = GaugeMetricFamily("titan_worker_last_heartbeat_age_seconds",
                                  "seconds since each live worker's last heartbeat",
                                  labels=["worker", "status"])
        for w in self.snap["workers"]:
            beats.add_metric([w.id, w.status], w.age_seconds)
        yield beats
        yield GaugeMetricFamily("titan_api_uptime_seconds", "seconds since the API started",
                                value=self.uptime)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request, db: DB) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(await _snapshot(db),
                                time.monotonic() - request.app.state.started))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
