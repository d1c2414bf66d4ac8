"""The FastAPI application: ``create_app(settings, db=None, bind_host=None)``.

Every request passes ``Guard`` first (Host, Origin, Content-Type, bearer token; see guard.py).

Without ``db`` the app opens (and migrates) the configured database when it starts and closes it
when it stops, on the server's own event loop.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from worker import __version__
from worker.api import health, jason, jobs, ops, projects
from worker.api import workers as workers_api
from worker.api.errors import BodyLimit, install_error_handlers
from worker.api.guard import Guard
from worker.config import Settings
from worker.db.engine import Database
from worker.logs import get_logger

log = get_logger("titan.api")


def create_app(settings: Settings, db: Database | None = None, *,
               bind_host: str | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = None
        if db is None:
            from worker.bootstrap import open_database

            owned = app.state.db = await open_database(settings)
        try:
            yield
        finally:
            if owned is not None:
                await owned.dispose()

    app = FastAPI(title="Titan", version=__version__, lifespan=lifespan,
                  description="Create and follow projects; propose and approve Titan's own "
                              "code changes. With TITAN_API_TOKEN set, send Authorization: "
                              "Bearer <token>; ops endpoints take X-OPS-TOKEN (OPS_TOKEN "
                              "proposes, OPS_APPROVER_TOKEN decides). Changes need "
                              "Content-Type: application/json.")
    app.state.settings = settings
    app.state.db = db
    app.state.started = time.monotonic()
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(projects.router)
    app.include_router(ops.router)
    app.include_router(jason.router)
    app.include_router(jobs.router)
    app.include_router(workers_api.router)
    _include_read_routers(app)
    _include_optional_routers(app)
    app.add_middleware(BodyLimit)
    # Added last, so it runs first: nothing reaches a route (or the body limit) unchecked.
    app.add_middleware(Guard, settings=settings, bind_host=bind_host)
    return app


def _include_read_routers(app: FastAPI) -> None:
    """Issue 19's read endpoints: the log (and its SSE follow), artifact files, templates."""
    from worker.api import artifacts, logs, templates

    for module in (logs, artifacts, templates):
        app.include_router(module.router)


def _include_optional_routers(app: FastAPI) -> None:
    try:
        from worker.sales.api import router as sales_router
    except ImportError:  # the sales feature is optional
        return
    app.include_router(sales_router)

