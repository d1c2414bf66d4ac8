"""LogService and SalesService, the Logs and Sales tabs' door, against the real test database."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from worker.config import Settings
from worker.db.engine import Database
from worker.services.logquery import LogFilter, LogService
from worker.services.sales import SalesService


async def _log(db: Database, level: str, message: str) -> None:
    async with db.session() as s:
        await s.execute(text("INSERT INTO log_entries (level, message) VALUES (:l, :m)"),
                        {"l": level, "m": message})


async def test_log_pages_filter_and_follow(db: Database) -> None:
    logs = LogService(db)
    for n in range(5):
        await _log(db, "INFO" if n % 2 else "ERROR", f"line {n}")
    newest = await logs.query(LogFilter(), limit=2)
    assert [e.message for e in newest] == ["line 4", "line 3"]
    older = await logs.query(LogFilter(), limit=10, before_id=newest[-1].id)
    assert [e.message for e in older] == ["line 2", "line 1", "line 0"]
    errors = await logs.query(LogFilter(level="ERROR"), newest_first=False)
    assert [e.message for e in errors] == ["line 0", "line 2", "line 4"]

    follower = logs.follow(LogFilter(text="wanted"), after_id=newest[0].id, poll_seconds=0.2)
    try:
        await _log(db, "INFO", "not this one")
        await _log(db, "INFO", "the wanted line")
        entry = await asyncio.wait_for(anext(follower), timeout=30)
        assert entry.message == "the wanted line"
    finally:
        await follower.aclose()


async def test_sales_record_then_figures(db: Database, settings: Settings) -> None:
    sales = SalesService(db, settings)
    assert await sales.figures() == []
    assert not any(s.connected for s in sales.sources())
    order, created = await sales.record({"currency": "EUR", "amount": "12.50",
                                         "source": "shop", "externalId": "A-1"})
    assert created and order.amount_minor == 1250
    again, created = await sales.record({"currency": "EUR", "amount": "12.50",
                                         "source": "shop", "externalId": "A-1"})
    assert (again.id, created) == (order.id, False)
    [eur] = await sales.figures()
    assert (eur.currency, eur.revenue_all, eur.orders) == ("EUR", 1250, 1)
    overview = await sales.overview()
    assert overview.has_sales and overview.currencies == [eur]
    series = await sales.series("day", 3)
    assert (series.bucket, len(series.starts)) == ("day", 3)
    assert series.values == {"EUR": [0, 0, 1250]}  # recorded today, the last bucket
