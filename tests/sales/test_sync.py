"""``titan sales sync`` against loopback servers speaking Stripe's and Shopify's documented
list formats (tests/sales/fake_shops.py): the real services cannot be reached from tests."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.conftest import titan
from tests.sales.fake_shops import (
    SHOPIFY_TOKEN,
    STRIPE_KEY,
    fake_shops,
    shopify_order,
    stripe_charge,
)
from tests.sales.helpers import add_project
from worker.config import Settings
from worker.sales.activity import sales_actions
from worker.sales.sources import SyncError, sync_sources


async def rows(db) -> list[tuple]:
    async with db.session() as s:
        return (await s.execute(text(
            "SELECT source, external_id, amount_minor, currency, status, project_id, "
            "customer_name FROM orders ORDER BY source, external_id"))).all()


async def test_stripe_charges_across_pages_then_a_refund(db, titan_env: dict) -> None:
    site = await add_project(db, "persona-site")
    with fake_shops() as shops:
        shops.charges = [
            stripe_charge("ch_3", 12900, 1718445600, metadata={"project": "persona-site"},
                          billing_details={"name": "Ann", "email": "ann@example.com"}),
            stripe_charge("ch_2", 5000, 1718359200, amount_refunded=1000),
            stripe_charge("ch_1", 999, 1718272800, status="failed"),
            stripe_charge("ch_0", 2500, 1718186400, currency="eur", status="pending"),
        ]
        settings = Settings(stripe_api_key=STRIPE_KEY, stripe_api_base=shops.base)
        [first] = await sync_sources(db, settings)
        assert (first.source, first.fetched, first.inserted, first.updated) == (
            "stripe", 3, 3, 0)
        assert sum("starting_after" in r for r in shops.requests) == 1  # two pages

        shops.charges[0].update(refunded=True, amount_refunded=12900)
        shops.charges.insert(0, stripe_charge("ch_4", 700, 1718532000))
        [second] = await sync_sources(db, settings)

    assert (second.fetched, second.inserted, second.updated) == (4, 1, 1)
    assert await rows(db) == [
        ("stripe", "ch_0", 2500, "EUR", "pending", None, ""),
        ("stripe", "ch_2", 4000, "USD", "paid", None, ""),  # partly refunded: what was kept
        ("stripe", "ch_3", 12900, "USD", "refunded", site, "Ann"),
        ("stripe", "ch_4", 700, "USD", "paid", None, ""),
    ]


async def test_a_wrong_key_is_reported_and_writes_nothing(db, titan_env: dict) -> None:
    with fake_shops() as shops:
        shops.charges = [stripe_charge("ch_1", 100, 1718272800)]
        settings = Settings(stripe_api_key="sk_wrong", stripe_api_base=shops.base)
        with pytest.raises(SyncError, match="Stripe answered HTTP 401: Invalid API Key"):
            await sync_sources(db, settings)
    assert await rows(db) == []


async def test_cli_sync_pulls_both_sources(db, titan_env: dict) -> None:
    ebook = await add_project(db, "ebook")
    with fake_shops() as shops:
        shops.charges = [stripe_charge("ch_1", 4200, 1718272800)]
        shops.orders = [
            shopify_order(1003, "129.00", "2024-06-15T10:00:00-04:00",
                          customer={"first_name": "Ann", "last_name": "Lee"},
                          line_items=[{"title": "PDF guide", "quantity": 3, "sku": "ebook"}]),
            shopify_order(1002, "1500", "2024-06-14T10:00:00+09:00", currency="JPY",
                          financial_status="refunded"),
            shopify_order(1001, "10.00", "2024-06-13T10:00:00Z", financial_status="voided"),
        ]
        env = {**titan_env, "STRIPE_API_KEY": STRIPE_KEY, "STRIPE_API_BASE": shops.base,
               "SHOPIFY_STORE": "titan-test", "SHOPIFY_TOKEN": SHOPIFY_TOKEN,
               "SHOPIFY_API_BASE": shops.base}
        done = titan(env, "sales", "sync")
        again = titan(env, "sales", "sync")

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["stripe: 1 fetched, 1 new, 0 updated",
                                        "shopify: 2 fetched, 2 new, 0 updated"]
    assert "shopify: 2 fetched, 0 new, 0 updated" in again.stdout
    assert await rows(db) == [
        ("shopify", "1002", 1500, "JPY", "refunded", None, ""),
        ("shopify", "1003", 12900, "USD", "paid", ebook, "Ann Lee"),
        ("stripe", "ch_1", 4200, "USD", "paid", None, ""),
    ]
    newest = (await sales_actions(db, limit=1))[0]
    assert newest.text == "Sold 3 × PDF guide to Ann Lee: received $129.00 via Shopify"  # noqa: RUF001


async def test_cli_sync_with_nothing_connected_says_what_to_set(titan_env: dict) -> None:
    env = {k: v for k, v in titan_env.items()
           if k not in ("STRIPE_API_KEY", "SHOPIFY_STORE", "SHOPIFY_TOKEN")}
    result = titan(env, "sales", "sync")
    assert result.returncode == 1
    assert "no sales source is connected" in result.stderr
    assert "Stripe (set STRIPE_API_KEY) or Shopify (set SHOPIFY_STORE and SHOPIFY_TOKEN)" \
        in result.stderr
