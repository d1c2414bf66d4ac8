"""Shared data for the sales tests: projects and orders with hand-computed totals."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text

from worker.db.engine import Database
from worker.sales.orders import NewOrder, insert_new

UTC_ZONE = ZoneInfo("UTC")
# "Now" for the hand-computed figures: Saturday 15 June 2024, noon UTC.
NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)


async def add_project(db: Database, slug: str, *, status: str = "published",
                      price_minor: int | None = None, currency: str = "USD") -> int:
    async with db.session() as s:
        return int(await s.scalar(text(
            "INSERT INTO projects (name, slug, template_ref, status, price_minor, currency) "
            "VALUES (:name, :slug, 'persona/basic', :status, :price, :currency) RETURNING id"),
            {"name": slug.replace("-", " ").title(), "slug": slug, "status": status,
             "price": price_minor, "currency": currency}))


def order(ext: str, minor: int, currency: str, when: str, status: str = "paid",
          project_id: int | None = None, *, description: str = "", customer: str = "",
          source: str = "manual") -> NewOrder:
    return NewOrder(project_id=project_id, customer_name=customer, customer_email="",
                    amount_minor=minor, currency=currency, status=status, source=source,
                    external_id=ext, description=description,
                    created_at=datetime.fromisoformat(when).replace(tzinfo=UTC))


async def add_orders(db: Database, *rows: NewOrder) -> None:
    async with db.session() as s:
        await insert_new(s, rows)


async def seed_shop(db: Database) -> dict[str, int]:
    """Three currencies, paid/refunded/pending orders, three projects (see the totals in
    test_summary.py, computed by hand from this list)."""
    site = await add_project(db, "persona-site", price_minor=12900)
    ebook = await add_project(db, "ebook", price_minor=1550, currency="EUR")
    unsold = await add_project(db, "unsold-guide", price_minor=900)
    await add_project(db, "still-building", status="build")
    await add_orders(
        db,
        order("o1", 12900, "USD", "2024-06-15T09:00", project_id=site, customer="Ann"),
        order("o2", 5000, "USD", "2024-06-12T08:00", project_id=site),
        order("o3", 2000, "USD", "2024-05-20T08:00"),
        order("o4", 100000, "USD", "2024-01-10T08:00"),
        order("o5", 2999, "USD", "2024-06-14T15:00", "refunded", site, customer="Bob",
              source="stripe"),
        order("o6", 1000, "USD", "2024-06-15T11:00", "pending"),
        order("e1", 1550, "EUR", "2024-06-15T10:00", project_id=ebook,
              description="3 PDFs", source="shopify"),
        order("e2", 9999, "EUR", "2024-06-08T08:00", project_id=ebook),
        order("e3", 1550, "EUR", "2024-06-13T08:00", "refunded", ebook),
        order("j1", 1200, "JPY", "2024-06-14T08:00", project_id=ebook),
    )
    return {"site": site, "ebook": ebook, "unsold": unsold}
