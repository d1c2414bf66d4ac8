"""``POST /api/sales/orders`` and ``GET /api/sales/summary`` (FastAPI router).

The app that includes ``router`` may put its Database on ``app.state.db`` and its Settings on
``app.state.settings``; without them the router opens the configured database itself on first
use. When ``TITAN_API_TOKEN`` is set every request needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
import hmac
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse

from worker.api.errors import invalid
from worker.config import Settings, get_settings
from worker.db.engine import Database
from worker.errors import InvalidInput
from worker.sales.clock import day_start, local_timezone
from worker.sales.orders import OrderIn, order_dict, record_order
from worker.sales.overview import sales_overview

_open_lock = asyncio.Lock()


def _settings(request: Request) -> Settings:
    return getattr(request.app.state, "settings", None) or get_settings()


async def _db(request: Request) -> Database:
    db = getattr(request.app.state, "db", None)
    if db is not None:
        return db
    async with _open_lock:
        db = getattr(request.app.state, "sales_db", None)
        if db is None:
            from worker.bootstrap import open_database

            db = await open_database(_settings(request))
            request.app.state.sales_db = db
    return db


def require_api_token(request: Request) -> None:
    """With TITAN_API_TOKEN set, only ``Authorization: Bearer <that token>`` gets in."""
    token = _settings(request).api_token
    if token is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.get_secret_value().encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong API token",
                            headers={"WWW-Authenticate": "Bearer"})


router = APIRouter(prefix="/api/sales", tags=["sales"],
                   dependencies=[Depends(require_api_token)])
DbDep = Annotated[Database, Depends(_db)]


@router.post("/orders", status_code=status.HTTP_201_CREATED, response_model=None)
async def create_order(order: OrderIn, response: Response, db: DbDep
                       ) -> dict[str, Any] | JSONResponse:
    """Record an order. Same validation as the CSV import; an order whose (source,
    externalId) already exists is returned as it is with 200 (safe to retry)."""
    if order.source == "csv":
        return invalid("source", "'csv' is reserved for titan sales import")
    try:
        saved, created = await record_order(db, order)
    except InvalidInput as exc:  # e.g. an unknown project: same 422 shape as body errors
        return invalid(exc.field, exc.message)
    if not created:
        response.status_code = status.HTTP_200_OK
    return order_dict(saved)


@router.get("/summary")
async def summary(request: Request, db: DbDep,
                  since: Annotated[date | None, Query(description="YYYY-MM-DD")] = None
                  ) -> dict[str, Any]:
    """Per-currency KPIs, yesterday's performance, per-project sales, recent sales actions
    and which sources are connected."""
    start = day_start(since, local_timezone()) if since else None
    overview = await sales_overview(db, _settings(request), since=start)
    return overview.as_json()
