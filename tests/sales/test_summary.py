"""Sales figures against totals computed by hand from tests/sales/helpers.py:seed_shop.

Real PostgreSQL; "now" is fixed at 2024-06-15 12:00 UTC so day windows are known.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from tests.sales.helpers import NOW, UTC_ZONE, add_orders, order, seed_shop
from worker.sales.activity import MESSAGES_LOGGER, day_performance, sales_actions
from worker.sales.money import format_money, parse_amount
from worker.sales.summary import currency_figures, project_sales, revenue_series


async def test_kpis_per_currency_match_hand_computed_totals(db) -> None:
    await seed_shop(db)
    figures = {f.currency: f for f in await currency_figures(db, now=NOW, tz=UTC_ZONE)}

    assert sorted(figures) == ["EUR", "JPY", "USD"]  # never one mixed total
    usd, eur, jpy = figures["USD"], figures["EUR"], figures["JPY"]
    # USD paid: 129.00 today, 50.00 on the 12th, 20.00 on 20 May, 1,000.00 in January.
    assert (usd.revenue_today, usd.revenue_7d, usd.revenue_30d, usd.revenue_all) == (
        12900, 17900, 19900, 119900)
    assert (usd.orders, usd.average_order) == (4, 29975)
    assert (usd.refunds, usd.refunded_minor, usd.pending, usd.pending_minor) == (1, 2999, 1, 1000)
    # EUR: 99.99 on the 8th is 8 days back: in the 30-day window, not the 7-day one.
    assert (eur.revenue_today, eur.revenue_7d, eur.revenue_30d, eur.revenue_all) == (
        1550, 1550, 11549, 11549)
    assert (eur.orders, eur.average_order) == (2, 5775)  # 115.49 / 2 = 57.745, half up
    assert (eur.refunds, eur.refunded_minor) == (1, 1550)
    assert (jpy.revenue_today, jpy.revenue_7d, jpy.revenue_all, jpy.orders) == (0, 1200, 1200, 1)
    assert format_money(usd.revenue_all, "USD") == "$1,199.00"
    assert format_money(jpy.revenue_all, "JPY") == "¥1,200"
    assert format_money(eur.average_order, "EUR") == "€57.75"


async def test_since_restricts_every_figure(db) -> None:
    await seed_shop(db)
    since = datetime(2024, 6, 13, tzinfo=UTC)
    figures = {f.currency: f for f in await currency_figures(db, since=since, now=NOW,
                                                             tz=UTC_ZONE)}
    assert figures["USD"].revenue_all == 12900
    assert figures["EUR"].revenue_all == 1550 and figures["EUR"].refunds == 1
    assert figures["JPY"].revenue_all == 1200


async def test_days_follow_the_local_time_zone(db) -> None:
    # 23:30 UTC on the 14th is already the 15th in Tokyo.
    await add_orders(db, order("late", 500, "USD", "2024-06-14T23:30"))
    tokyo = ZoneInfo("Asia/Tokyo")
    [usd] = await currency_figures(db, now=NOW, tz=tokyo)
    assert usd.revenue_today == 500
    [utc] = await currency_figures(db, now=NOW, tz=UTC_ZONE)
    assert utc.revenue_today == 0
    series = await revenue_series(db, "day", 2, now=NOW, tz=tokyo)
    assert series.values["USD"] == [0, 500]


async def test_revenue_series_has_one_point_per_bucket_per_currency(db) -> None:
    await seed_shop(db)
    daily = await revenue_series(db, "day", now=NOW, tz=UTC_ZONE)
    assert len(daily.starts) == 30
    assert daily.starts[0] == date(2024, 5, 17) and daily.starts[-1] == date(2024, 6, 15)
    assert sorted(daily.values) == ["EUR", "JPY", "USD"]
    usd = daily.values["USD"]
    assert len(usd) == 30 and sum(usd) == 19900  # the 30-day revenue, nothing else
    assert usd[-1] == 12900 and usd[daily.starts.index(date(2024, 6, 12))] == 5000

    weekly = await revenue_series(db, "week", now=NOW, tz=UTC_ZONE)
    assert len(weekly.starts) == 12 and weekly.starts[-1] == date(2024, 6, 10)  # a Monday
    assert weekly.values["USD"][-1] == 17900  # Mon 10th .. Sat 15th
    monthly = await revenue_series(db, "month", 6, now=NOW, tz=UTC_ZONE)
    assert monthly.starts == [date(2024, m, 1) for m in range(1, 7)]
    assert monthly.values["USD"] == [100000, 0, 0, 0, 2000, 17900]
    assert monthly.values["EUR"] == [0, 0, 0, 0, 0, 11549]


async def test_per_project_table_lists_sellers_and_unsold_published_projects(db) -> None:
    ids = await seed_shop(db)
    rows = {(r.slug, r.currency): r for r in await project_sales(db)}
    site = rows[("persona-site", "USD")]
    assert (site.orders, site.revenue, site.refunds) == (2, 17900, 1)
    assert site.last_sale == datetime(2024, 6, 15, 9, 0, tzinfo=UTC)
    assert rows[("ebook", "EUR")].revenue == 11549
    assert rows[("ebook", "JPY")].revenue == 1200  # same project, its own currency row
    assert rows[("", "USD")].name == "(no project)" and rows[("", "USD")].revenue == 102000
    unsold = rows[("unsold-guide", "USD")]
    assert (unsold.project_id, unsold.orders, unsold.revenue, unsold.last_sale) == (
        ids["unsold"], 0, 0, None)
    assert not any(slug == "still-building" for slug, _ in rows)


async def test_yesterday_counts_income_published_content_and_messages(db) -> None:
    ids = await seed_shop(db)
    async with db.session() as s:
        for step, when in (("publish", "2024-06-14 10:00"), ("publish", "2024-06-14 18:00"),
                           ("build", "2024-06-14 10:00"), ("publish", "2024-06-15 10:00")):
            await s.execute(text(
                "INSERT INTO artifacts (project_id, step, kind, name, created_at) "
                "VALUES (:p, :step, 'site', :name, CAST(:at AS timestamptz))"),
                {"p": ids["site"], "step": step, "name": f"{step}-{when}", "at": when + "Z"})
        for logger, when in ((MESSAGES_LOGGER, "2024-06-14 09:00"),
                             (MESSAGES_LOGGER, "2024-06-14 23:59"),
                             (MESSAGES_LOGGER + ".jason", "2024-06-14 12:00"),
                             ("titan.worker", "2024-06-14 12:00"),
                             ("titan.messagesx", "2024-06-14 12:00"),
                             (MESSAGES_LOGGER, "2024-06-13 12:00")):
            await s.execute(text(
                "INSERT INTO log_entries (ts, level, logger, message) "
                "VALUES (CAST(:at AS timestamptz), 'INFO', :logger, 'sent')"),
                {"logger": logger, "at": when + "Z"})
    day = await day_performance(db, now=NOW, tz=UTC_ZONE)
    assert day.day == date(2024, 6, 14)
    assert day.income == [("JPY", 1200, 1)]  # the USD order that day was refunded
    assert (day.content_created, day.messages_sent) == (2, 3)


async def test_sales_action_log_is_newest_first_with_source(db) -> None:
    await seed_shop(db)
    actions = await sales_actions(db, limit=4)
    assert [a.text for a in actions] == [
        "Awaiting $10.00 for an order via manual entry",
        "Sold 3 PDFs: received €15.50 via Shopify",
        "Sold Persona Site to Ann: received $129.00 via manual entry",
        "Refunded $29.99 for Persona Site to Bob via Stripe",
    ]
    assert [a.kind for a in actions] == ["pending", "sale", "sale", "refund"]


@pytest.mark.parametrize(("written", "currency", "minor"), [
    ("129.00", "USD", 12900), ("1,299.5", "USD", 129950), ("1200", "JPY", 1200),
    ("0.125", "KWD", 125), ("7", "EUR", 700),
])
def test_amounts_become_exact_minor_units(written: str, currency: str, minor: int) -> None:
    assert parse_amount(written, currency) == minor


@pytest.mark.parametrize(("written", "currency", "problem"), [
    ("12.345", "USD", "more than 2 decimal places"), ("12.5", "JPY", "more than 0 decimal"),
    ("-5", "USD", "negative"), ("abc", "USD", "not a number"), ("NaN", "USD", "not a number"),
])
def test_bad_amounts_are_refused(written: str, currency: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_amount(written, currency)
