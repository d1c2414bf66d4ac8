"""``POST /api/sales/orders`` and ``GET /api/sales/summary``: Titan's API app (with the sales
router) served by uvicorn on loopback, called over real HTTP, writing to a real PostgreSQL."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from tests.helpers import wait_until
from tests.sales.helpers import add_project
from worker.api.app import create_app
from worker.config import Settings
from worker.db.models import Order


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@asynccontextmanager
async def serve(db, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, db)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error",
                                           lifespan="on"))
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started, 30, "the API server", interval=0.02,
                     give_up=lambda: "it stopped" if task.done() else None)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        server.should_exit = True
        await task


async def count_orders(db) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(Order)))


@pytest.fixture
def open_settings(titan_env: dict) -> Settings:
    return Settings(api_token=None, stripe_api_key=None, shopify_token=None)


async def test_post_order_then_summary(db, open_settings: Settings) -> None:
    await add_project(db, "persona-site", price_minor=12900)
    body = {"project": "persona-site", "customer": "Ann", "email": "ann@example.com",
            "amount": "129.00", "currency": "usd", "externalId": "web-1", "source": "api"}
    async with serve(db, open_settings) as client:
        created = await client.post("/api/sales/orders", json=body)
        retried = await client.post("/api/sales/orders", json=body)
        cents = await client.post("/api/sales/orders", json={
            "amountMinor": 4999, "currency": "EUR", "description": "3 PDFs"})
        summary = await client.get("/api/sales/summary")

    assert created.status_code == 201, created.text
    assert created.json()["amountMinor"] == 12900 and created.json()["currency"] == "USD"
    assert retried.status_code == 200 and retried.json()["id"] == created.json()["id"]
    assert cents.status_code == 201 and cents.json()["amount"] == "49.99"
    assert await count_orders(db) == 2
    data = summary.json()
    per = {c["currency"]: c for c in data["currencies"]}
    assert per["USD"]["revenue_all_display"] == "$129.00"
    assert per["EUR"]["revenue_all"] == 4999
    assert data["actions"][0]["text"] == "Sold 3 PDFs: received €49.99 via manual entry"


BAD_ORDERS = [  # (change to a good body, field the 422 must name, words of its message)
    ({"currency": "dollars"}, "currency", "three-letter"),
    ({"amount": "12.345"}, "amount", "more than 2 decimal places"),
    ({"amount": "-3"}, "amount", "negative"),
    ({"amount": None}, "amount", "give amount"),
    ({"amount": "1.00", "amountMinor": 99}, "amount", "amountMinor says 99"),
    ({"amountMinor": -1, "amount": None}, "amountMinor", "greater than or equal to 0"),
    ({"status": "shipped"}, "status", "'paid', 'refunded' or 'pending'"),
    ({"email": "nope"}, "email", "not an email"),
    ({"project": "missing"}, "project", "no project 'missing'"),
    ({"date": "last tuesday"}, "date", "not a date"),
    ({"colour": "red"}, "colour", "Extra inputs"),
    ({"source": "csv"}, "source", "reserved"),
]


async def test_bad_orders_get_422_naming_the_field(db, open_settings: Settings) -> None:
    async with serve(db, open_settings) as client:
        for change, field, message in BAD_ORDERS:
            response = await client.post("/api/sales/orders",
                                         json={"amount": "10.00", "currency": "USD", **change})
            assert response.status_code == 422, (change, response.text)
            error = response.json()
            assert error["field"] == field, (change, error)
            assert message in error["message"], (change, error)
    assert await count_orders(db) == 0


async def test_api_token_is_required_when_configured(db, titan_env: dict) -> None:
    settings = Settings(api_token="s3cret-token")
    body = {"amount": "10.00", "currency": "USD"}
    async with serve(db, settings) as client:
        anonymous = await client.post("/api/sales/orders", json=body)
        wrong = await client.get("/api/sales/summary", headers={"Authorization": "Bearer no"})
        right = await client.post("/api/sales/orders", json=body,
                                  headers={"Authorization": "Bearer s3cret-token"})
    assert anonymous.status_code == 401 and wrong.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert right.status_code == 201
    assert await count_orders(db) == 1


async def test_summary_without_sales_says_what_can_be_connected(db, open_settings: Settings
                                                                ) -> None:
    async with serve(db, open_settings) as client:
        data = (await client.get("/api/sales/summary")).json()
    assert data["currencies"] == [] and data["actions"] == []
    assert "Stripe (set STRIPE_API_KEY)" in data["hint"]
    assert "Shopify (set SHOPIFY_STORE and SHOPIFY_TOKEN)" in data["hint"]
