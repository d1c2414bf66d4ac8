"""Everything the Sales tab's header shows, gathered once: used by ``titan sales summary``,
``GET /api/sales/summary`` and Jason's "how are sales"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from worker.config import Settings
from worker.db.engine import Database
from worker.sales.activity import DayPerformance, SalesAction, day_performance, sales_actions
from worker.sales.clock import local_timezone
from worker.sales.money import format_money
from worker.sales.sources import SourceStatus, not_connected_hint, source_status
from worker.sales.summary import (
    CurrencyFigures,
    ProjectSales,
    currency_figures,
    project_sales,
)


@dataclass(frozen=True)
class SalesOverview:
    since: datetime | None
    currencies: list[CurrencyFigures]
    yesterday: DayPerformance
    projects: list[ProjectSales]
    actions: list[SalesAction]
    sources: list[SourceStatus]
    hint: str  # how to connect the sources that are not connected ("" when all are)

    @property
    def has_sales(self) -> bool:
        return bool(self.currencies)

    def as_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "currencies": [c.as_json() for c in self.currencies],
            "yesterday": self.yesterday.as_json(),
            "projects": [p.as_json() for p in self.projects],
            "actions": [a.as_json() for a in self.actions],
            "sources": [s.as_json() for s in self.sources],
            "hint": self.hint,
        }


async def sales_overview(db: Database, settings: Settings, *, since: datetime | None = None,
                         now: datetime | None = None, tz: ZoneInfo | None = None,
                         actions: int = 20) -> SalesOverview:
    tz = tz or local_timezone()
    now = now or datetime.now(UTC)
    sources = source_status(settings)
    return SalesOverview(
        since=since,
        currencies=await currency_figures(db, since=since, now=now, tz=tz),
        yesterday=await day_performance(db, now=now, tz=tz),
        projects=await project_sales(db, since=since),
        actions=await sales_actions(db, actions),
        sources=sources,
        hint="" if all(s.connected for s in sources) else not_connected_hint(settings),
    )


def spoken_summary(overview: SalesOverview) -> str:
    """A sentence or two for Jason to say when asked "how are sales?"."""
    if not overview.has_sales:
        return "No sales recorded yet. " + overview.hint
    parts = []
    for c in overview.currencies:
        parts.append(
            f"{format_money(c.revenue_today, c.currency)} today, "
            f"{format_money(c.revenue_30d, c.currency)} in the last 30 days and "
            f"{format_money(c.revenue_all, c.currency)} in all from {c.orders} "
            f"order{'s' if c.orders != 1 else ''}")
    text = "Sales: " + "; ".join(parts) + "."
    best = next((p for p in overview.projects if p.revenue), None)
    if best is not None:
        text += (f" Best seller: {best.name} with "
                 f"{format_money(best.revenue, best.currency)}.")
    return text


def summary_lines(overview: SalesOverview) -> list[str]:
    """The plain-text report of ``titan sales summary``."""
    lines = [f"Sales since {overview.since:%Y-%m-%d}" if overview.since else "Sales (all time)"]
    if not overview.has_sales:
        lines.append("  No sales recorded yet.")
    for c in overview.currencies:
        m = lambda v, cur=c.currency: format_money(v, cur)  # noqa: E731
        lines.append(f"  {c.currency}  today {m(c.revenue_today)} · 7 days {m(c.revenue_7d)} · "
                     f"30 days {m(c.revenue_30d)} · all {m(c.revenue_all)}")
        lines.append(f"       orders {c.orders} · average {m(c.average_order)} · "
                     f"refunds {c.refunds} ({m(c.refunded_minor)}) · pending {c.pending}")
    y = overview.yesterday
    income = ", ".join(f"{format_money(v, cur)} ({n} order{'s' if n != 1 else ''})"
                       for cur, v, n in y.income) or "none"
    lines.append(f"Yesterday ({y.day:%Y-%m-%d}): income {income}; content created "
                 f"{y.content_created}; messages sent {y.messages_sent}")
    if overview.projects:
        lines.append("Projects:")
        for p in overview.projects:
            last = f"{p.last_sale:%Y-%m-%d}" if p.last_sale else "never"
            lines.append(f"  {p.slug or p.name:<28} {p.currency}  orders {p.orders:>5}  "
                         f"revenue {format_money(p.revenue, p.currency):>14}  last sale {last}")
    if overview.actions:
        lines.append("Recent sales actions:")
        for a in overview.actions[:10]:
            lines.append(f"  {a.at:%Y-%m-%d %H:%M}  {a.text}")
    lines.append("Sources: " + "; ".join(
        f"{s.label} {'connected' if s.connected else 'not connected (' + s.how + ')'}"
        for s in overview.sources))
    if overview.hint and not overview.has_sales:
        lines.append(overview.hint)
    return lines
