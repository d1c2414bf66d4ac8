"""Yesterday's performance and the log of sales actions (as on the original Sales tab).

**Messages-sent convention.** Anything in Titan that sends a message to a person outside the
process -- Jason speaking or writing to the project manager, a project emailing a customer, a
post to a social account -- writes one INFO line through the ``titan.messages`` logger (or a
child such as ``titan.messages.jason``) per message sent::

    from worker.sales.activity import log_message_sent
    log_message_sent("Your site is live", channel="email", recipient="ann@example.com")

The line lands in ``log_entries`` (logger column) through the process's DatabaseLogSink, and
"messages sent" counts those rows. Nothing else is counted, so a debug line never inflates it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from worker.db.engine import Database
from worker.logs import get_logger
from worker.sales.clock import day_start, local_timezone, today
from worker.sales.money import format_money
from worker.sales.summary import money_json

MESSAGES_LOGGER = "titan.messages"
SOURCE_LABELS = {"stripe": "Stripe", "shopify": "Shopify", "csv": "CSV import",
                 "manual": "manual entry", "api": "the API"}


def log_message_sent(text_: str, *, channel: str, recipient: str = "",
                     sender: str = "titan", **fields: Any) -> None:
    """Record one outbound message (see the module docstring for the convention)."""
    logger = MESSAGES_LOGGER if sender == "titan" else f"{MESSAGES_LOGGER}.{sender}"
    get_logger(logger).info(text_, channel=channel, recipient=recipient, **fields)


def source_label(source: str) -> str:
    return SOURCE_LABELS.get(source, source)


# -- yesterday's performance --------------------------------------------------------------

@dataclass(frozen=True)
class DayPerformance:
    day: date
    # (currency, paid revenue in minor units, paid orders), one per currency that sold.
    income: list[tuple[str, int, int]]
    content_created: int  # artifacts the publish step produced that day
    messages_sent: int  # log lines of the titan.messages logger that day

    def as_json(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(),
                "income": [{**money_json(m, c), "orders": n} for c, m, n in self.income],
                "contentCreated": self.content_created, "messagesSent": self.messages_sent}


_DAY = text("""
    SELECT 'income' AS kind, currency, sum(amount_minor), count(*)
    FROM orders
    WHERE status = 'paid' AND created_at >= :start AND created_at < :end
    GROUP BY currency
    UNION ALL
    SELECT 'content', NULL, NULL, count(*) FROM artifacts
    WHERE step = 'publish' AND created_at >= :start AND created_at < :end
    UNION ALL
    SELECT 'messages', NULL, NULL, count(*) FROM log_entries
    WHERE (logger = :logger OR logger LIKE :children) AND ts >= :start AND ts < :end
""")


async def day_performance(db: Database, day: date | None = None, *,
                          now: datetime | None = None, tz: ZoneInfo | None = None
                          ) -> DayPerformance:
    """Figures of one calendar day (default: yesterday)."""
    tz = tz or local_timezone()
    day = day or today(now or datetime.now(UTC), tz) - timedelta(days=1)
    params = {"start": day_start(day, tz), "end": day_start(day + timedelta(days=1), tz),
              "logger": MESSAGES_LOGGER, "children": MESSAGES_LOGGER + ".%"}
    income: list[tuple[str, int, int]] = []
    content = messages = 0
    async with db.session() as session:
        for kind, currency, total, count in await session.execute(_DAY, params):
            if kind == "income":
                income.append((currency, int(total), int(count)))
            elif kind == "content":
                content = int(count)
            else:
                messages = int(count)
    return DayPerformance(day, sorted(income), content, messages)


# -- the log of sales actions -------------------------------------------------------------

@dataclass(frozen=True)
class SalesAction:
    order_id: int
    at: datetime
    kind: str  # sale | refund | pending
    source: str
    amount_minor: int
    currency: str
    text: str

    def as_json(self) -> dict[str, Any]:
        return {"orderId": self.order_id, "at": self.at.isoformat(), "kind": self.kind,
                "source": self.source, **money_json(self.amount_minor, self.currency),
                "text": self.text}


_ACTIONS = text("""
    SELECT o.id, o.created_at, o.status, o.source, o.amount_minor, o.currency,
           o.description, o.customer_name, p.name
    FROM orders o LEFT JOIN projects p ON p.id = o.project_id
    ORDER BY o.created_at DESC, o.id DESC
    LIMIT :limit
""")


def describe_action(status: str, source: str, amount_minor: int, currency: str,
                    description: str, customer: str, project: str | None) -> str:
    """``Sold 3 PDFs to Ann: received $129.00 via Shopify`` and friends."""
    what = description or project or "an order"
    money = format_money(amount_minor, currency)
    via = source_label(source)
    if status == "refunded":
        return f"Refunded {money} for {what}" + (f" to {customer}" if customer else "") \
            + f" via {via}"
    if status == "pending":
        return f"Awaiting {money} for {what}" + (f" from {customer}" if customer else "") \
            + f" via {via}"
    return f"Sold {what}" + (f" to {customer}" if customer else "") \
        + f": received {money} via {via}"


async def sales_actions(db: Database, limit: int = 50) -> list[SalesAction]:
    """One line per order or refund, newest first."""
    async with db.session() as session:
        rows = (await session.execute(_ACTIONS, {"limit": limit})).all()
    kinds = {"paid": "sale", "refunded": "refund", "pending": "pending"}
    return [SalesAction(r[0], r[1], kinds[r[2]], r[3], r[4], r[5],
                        describe_action(r[2], r[3], r[4], r[5], r[6], r[7], r[8]))
            for r in rows]
