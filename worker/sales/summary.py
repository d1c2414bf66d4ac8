"""The figures the Sales tab, ``titan sales summary``, the API and Jason all show.

Every figure is per currency: amounts in different currencies are never added together.
Revenue counts ``paid`` orders; refunds and pending orders are reported beside it, not in it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import text

from worker.db.engine import Database
from worker.sales.clock import day_start, days_ago, local_timezone, today
from worker.sales.money import average_minor, format_money, to_decimal

Bucket = Literal["day", "week", "month"]
DEFAULT_PERIODS: dict[str, int] = {"day": 30, "week": 12, "month": 12}


@dataclass(frozen=True)
class CurrencyFigures:
    """KPIs of one currency. ``orders`` counts paid orders; amounts are minor units."""

    currency: str
    revenue_today: int
    revenue_7d: int
    revenue_30d: int
    revenue_all: int
    orders: int
    refunds: int
    refunded_minor: int
    pending: int
    pending_minor: int
    last_sale: datetime | None

    @property
    def average_order(self) -> int:
        return average_minor(self.revenue_all, self.orders)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["average_order"] = self.average_order
        data["last_sale"] = self.last_sale.isoformat() if self.last_sale else None
        for key in ("revenue_today", "revenue_7d", "revenue_30d", "revenue_all",
                    "refunded_minor", "pending_minor", "average_order"):
            data[f"{key}_display"] = format_money(data[key], self.currency)
        return data


_KPIS = text("""
    SELECT currency,
      coalesce(sum(amount_minor) FILTER (WHERE status = 'paid' AND created_at >= :today), 0),
      coalesce(sum(amount_minor) FILTER (WHERE status = 'paid' AND created_at >= :week), 0),
      coalesce(sum(amount_minor) FILTER (WHERE status = 'paid' AND created_at >= :month), 0),
      coalesce(sum(amount_minor) FILTER (WHERE status = 'paid'), 0),
      count(*) FILTER (WHERE status = 'paid'),
      count(*) FILTER (WHERE status = 'refunded'),
      coalesce(sum(amount_minor) FILTER (WHERE status = 'refunded'), 0),
      count(*) FILTER (WHERE status = 'pending'),
      coalesce(sum(amount_minor) FILTER (WHERE status = 'pending'), 0),
      max(created_at) FILTER (WHERE status = 'paid')
    FROM orders
    WHERE created_at >= :since
    GROUP BY currency
    ORDER BY currency
""")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def currency_figures(db: Database, *, since: datetime | None = None,
                           now: datetime | None = None, tz: ZoneInfo | None = None
                           ) -> list[CurrencyFigures]:
    """KPIs per currency. "7 days" is today and the 6 days before it (calendar days in tz);
    ``since`` restricts every figure to orders on or after it."""
    tz = tz or local_timezone()
    now = now or datetime.now(UTC)
    params = {"today": days_ago(now, tz, 0), "week": days_ago(now, tz, 6),
              "month": days_ago(now, tz, 29), "since": since or _EPOCH}
    async with db.session() as session:
        rows = (await session.execute(_KPIS, params)).all()
    # A list, not a bare generator, so the type checker accepts the positional unpacking.
    return [CurrencyFigures(*[row[0], *(int(v) for v in row[1:10]), row[10]]) for row in rows]


# -- revenue over time ---------------------------------------------------------------------

def bucket_starts(bucket: Bucket, periods: int, now: datetime, tz: ZoneInfo) -> list[date]:
    """The first day of each of the last ``periods`` buckets, oldest first (weeks start on
    Monday, as PostgreSQL's date_trunc('week') does)."""
    current = today(now, tz)
    if bucket == "day":
        return [current - timedelta(days=i) for i in range(periods - 1, -1, -1)]
    if bucket == "week":
        monday = current - timedelta(days=current.weekday())
        return [monday - timedelta(weeks=i) for i in range(periods - 1, -1, -1)]
    starts = []
    year, month = current.year, current.month
    for _ in range(periods):
        starts.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


_SERIES = text("""
    SELECT currency, CAST(date_trunc(:unit, created_at AT TIME ZONE :tz) AS date) AS bucket,
           sum(amount_minor)
    FROM orders
    WHERE status = 'paid' AND created_at >= :start
    GROUP BY 1, 2
""")


@dataclass(frozen=True)
class RevenueSeries:
    bucket: Bucket
    starts: list[date]
    # currency -> revenue (minor units) per bucket, aligned with ``starts``; zero-filled.
    values: dict[str, list[int]] = field(default_factory=dict)


async def revenue_series(db: Database, bucket: Bucket = "day", periods: int | None = None, *,
                         now: datetime | None = None, tz: ZoneInfo | None = None
                         ) -> RevenueSeries:
    """Paid revenue per day/week/month over the last N buckets, one series per currency."""
    if bucket not in DEFAULT_PERIODS:
        raise ValueError(f"bucket must be day, week or month, not {bucket!r}")
    tz = tz or local_timezone()
    now = now or datetime.now(UTC)
    starts = bucket_starts(bucket, periods or DEFAULT_PERIODS[bucket], now, tz)
    index = {d: i for i, d in enumerate(starts)}
    params = {"unit": bucket, "tz": tz.key, "start": day_start(starts[0], tz)}
    values: dict[str, list[int]] = {}
    async with db.session() as session:
        for currency, start, total in await session.execute(_SERIES, params):
            if start in index:  # a future-dated order falls outside the chart
                values.setdefault(currency, [0] * len(starts))[index[start]] = int(total)
    return RevenueSeries(bucket, starts, dict(sorted(values.items())))


# -- per project --------------------------------------------------------------------------

@dataclass(frozen=True)
class ProjectSales:
    project_id: int | None
    name: str
    slug: str
    currency: str
    orders: int
    revenue: int
    refunds: int
    last_sale: datetime | None
    price_minor: int | None
    price_currency: str | None  # the project's own currency, which its price is in

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["last_sale"] = self.last_sale.isoformat() if self.last_sale else None
        data["revenue_display"] = format_money(self.revenue, self.currency)
        return data


_PROJECTS = text("""
    SELECT * FROM (
      SELECT o.project_id, coalesce(p.name, '(no project)') AS name,
             coalesce(p.slug, '') AS slug, o.currency,
             count(*) FILTER (WHERE o.status = 'paid') AS orders,
             coalesce(sum(o.amount_minor) FILTER (WHERE o.status = 'paid'), 0) AS revenue,
             count(*) FILTER (WHERE o.status = 'refunded'),
             max(o.created_at) FILTER (WHERE o.status = 'paid'),
             max(p.price_minor) AS price_minor, max(p.currency) AS price_currency
      FROM orders o LEFT JOIN projects p ON p.id = o.project_id
      WHERE o.created_at >= :since
      GROUP BY o.project_id, p.name, p.slug, o.currency
      UNION ALL
      -- Published projects that have not sold yet: on the table with zero, not missing.
      SELECT p.id, p.name, p.slug, p.currency, 0, 0, 0, NULL, p.price_minor, p.currency
      FROM projects p
      WHERE p.status = 'published'
        AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.project_id = p.id)
    ) AS sales
    -- Sellers first; amounts are only compared within one currency.
    ORDER BY orders = 0, currency, revenue DESC, name
""")


async def project_sales(db: Database, *, since: datetime | None = None) -> list[ProjectSales]:
    async with db.session() as session:
        rows = (await session.execute(_PROJECTS, {"since": since or _EPOCH})).all()
    return [ProjectSales(r[0], r[1], r[2], r[3], int(r[4]), int(r[5]), int(r[6]), r[7], r[8],
                         r[9]) for r in rows]


def money_json(minor: int, currency: str) -> dict[str, Any]:
    return {"currency": currency, "minor": minor, "amount": str(to_decimal(minor, currency)),
            "display": format_money(minor, currency)}
