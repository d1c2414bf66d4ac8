"""Shopify paging stays on the store's host: a ``next`` link to another host is refused and the
store's token is never sent there. Shopify cannot be reached from tests, so two loopback fake
stores (tests/sales/fake_shops.py) stand in: the store, and another host its link points at."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.sales.fake_shops import SHOPIFY_TOKEN, fake_shops, shopify_order
from worker.config import Settings
from worker.db.models import Order
from worker.sales.sources import SyncError, sync_sources

ORDERS = [shopify_order(1000 + i, "10.00", "2024-06-15T10:00:00+00:00") for i in range(5)]


async def test_a_next_link_to_another_host_is_refused(db, titan_env: dict) -> None:
    with fake_shops() as store, fake_shops() as elsewhere:
        store.orders = elsewhere.orders = list(ORDERS)
        own_base = store.base
        store.base = elsewhere.base  # the store's Link header now names the other host
        settings = Settings(shopify_store="titan-test", shopify_token=SHOPIFY_TOKEN,
                            shopify_api_base=own_base)
        with pytest.raises(SyncError, match="another host") as refused:
            await sync_sources(db, settings)
        assert len(store.requests) == 1  # the first page was fetched from the store itself
        assert elsewhere.requests == []  # the other host never saw a request, nor the token
    assert SHOPIFY_TOKEN not in str(refused.value)
    async with db.session() as session:  # a refused sync stores nothing
        assert await session.scalar(select(func.count()).select_from(Order)) == 0


async def test_next_links_on_the_stores_host_are_followed(db, titan_env: dict) -> None:
    with fake_shops() as store:
        store.orders = list(ORDERS)
        settings = Settings(shopify_store="titan-test", shopify_token=SHOPIFY_TOKEN,
                            shopify_api_base=store.base)
        [result] = await sync_sources(db, settings)
        assert result.fetched == len(ORDERS) and len(store.requests) == 3
