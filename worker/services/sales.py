"""Sales for every front end: one service over the ``worker.sales`` package.

The figures are computed in ``worker.sales`` (summary, activity, orders, sources); this class is
the desktop's and Jason's way in, shaped like the other services. ``titan sales`` and
``/api/sales`` still call the package's functions directly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from worker.db.engine import Database
from worker.db.models import Order
from worker.sales.orders import OrderIn, record_order
from worker.sales.overview import SalesOverview, sales_overview
from worker.sales.sources import SourceStatus, SyncResult, source_status, sync_sources
from worker.sales.summary import (
    Bucket,
    CurrencyFigures,
    RevenueSeries,
    currency_figures,
    revenue_series,
)


class SalesService:
    """Orders, revenue and the shops they come from."""

    def __init__(self, db: Database, settings: Any) -> None:
        self.db = db
        self.settings = settings

    async def overview(self, *, since: datetime | None = None, now: datetime | None = None,
                       tz: ZoneInfo | None = None, actions: int = 20) -> SalesOverview:
        """Everything the Sales tab's header shows (figures, yesterday, projects, actions)."""
        return await sales_overview(self.db, self.settings, since=since, now=now, tz=tz,
                                    actions=actions)

    async def figures(self, *, since: datetime | None = None, now: datetime | None = None,
                      tz: ZoneInfo | None = None) -> list[CurrencyFigures]:
        """Revenue today / 7 / 30 days / in all and order counts, one entry per currency."""
        return await currency_figures(self.db, since=since, now=now, tz=tz)

    async def series(self, bucket: Bucket = "day", periods: int | None = None, *,
                     now: datetime | None = None, tz: ZoneInfo | None = None) -> RevenueSeries:
        """Paid revenue per day/week/month over the last ``periods`` buckets."""
        return await revenue_series(self.db, bucket, periods, now=now, tz=tz)

    async def record(self, data: OrderIn | dict[str, Any],
                     tz: ZoneInfo | None = None) -> tuple[Order, bool]:
        """Record one order; (order, created). A repeat of the same source and external id
        returns the stored order unchanged."""
        return await record_order(self.db, data, tz=tz)

    async def sync(self) -> list[SyncResult]:
        """Pull every connected shop (Stripe, Shopify); SyncError if none is connected."""
        return await sync_sources(self.db, self.settings)

    def sources(self) -> list[SourceStatus]:
        """Which shops are connected (from settings; no database call)."""
        return source_status(self.settings)
