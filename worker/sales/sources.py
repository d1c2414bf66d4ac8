"""Pulled sources: Stripe charges and Shopify orders over their REST APIs (httpx).

- Stripe: ``GET {STRIPE_API_BASE}/v1/charges?limit=100`` with ``Authorization: Bearer
  STRIPE_API_KEY``; pages with ``has_more`` + ``starting_after=<last id>``; amounts are minor
  units already. A charge's ``metadata.project`` (a Titan project slug) links it to a project.
- Shopify: ``GET {SHOPIFY_API_BASE or https://SHOPIFY_STORE}/admin/api/2024-01/orders.json
  ?status=any&limit=250`` with ``X-Shopify-Access-Token: SHOPIFY_TOKEN``; pages through the
  ``Link: <...>; rel="next"`` header (only on the store's own host: a link elsewhere is refused,
  so the token never leaves it); prices are decimal strings in the order's currency. A line
  item whose SKU is a project slug links the order to that project.

A sync upserts: new charges/orders are added, and ones that changed since (refunded) are
updated, so running it twice leaves one row per charge.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from worker.config import Settings
from worker.db.engine import Database
from worker.errors import TitanError
from worker.logs import get_logger
from worker.sales.money import normalize_currency, parse_amount
from worker.sales.orders import NewOrder, project_ids, upsert

log = get_logger("titan.sales")
SHOPIFY_API_VERSION = "2024-01"
DEFAULT_STRIPE_BASE = "https://api.stripe.com"


class SyncError(TitanError):
    pass


@dataclass(frozen=True)
class SourceStatus:
    name: str
    label: str
    connected: bool
    how: str  # what to set to connect it

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "connected": self.connected,
                "how": self.how}


def source_status(settings: Settings) -> list[SourceStatus]:
    """Which pulled sources are configured, and how to connect the others."""
    return [
        SourceStatus("stripe", "Stripe", settings.stripe_api_key is not None,
                     "set STRIPE_API_KEY"),
        SourceStatus("shopify", "Shopify",
                     bool(settings.shopify_store) and settings.shopify_token is not None,
                     "set SHOPIFY_STORE and SHOPIFY_TOKEN"),
    ]


def not_connected_hint(settings: Settings) -> str:
    missing = [f"{s.label} ({s.how})" for s in source_status(settings) if not s.connected]
    return "Connect " + " or ".join(missing) + "; or import a CSV / record orders by hand."


@dataclass(frozen=True)
class SyncResult:
    source: str
    fetched: int
    inserted: int
    updated: int


# -- Stripe -------------------------------------------------------------------------------

async def stripe_charges(client: httpx.AsyncClient, base: str, key: str
                         ) -> AsyncIterator[dict[str, Any]]:
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = _json(await client.get(f"{base.rstrip('/')}/v1/charges", params=params,
                                      headers={"Authorization": f"Bearer {key}"}), "Stripe")
        charges = page.get("data") or []
        for charge in charges:
            yield charge
        if not page.get("has_more") or not charges:
            return
        params["starting_after"] = charges[-1]["id"]


def stripe_order(charge: dict[str, Any]) -> tuple[NewOrder, str | None] | None:
    """A charge as an order plus its project slug; failed charges are not sales (None)."""
    if charge.get("status") == "failed":
        return None
    amount = int(charge["amount"])
    refunded = int(charge.get("amount_refunded") or 0)
    if charge.get("status") == "pending":
        status = "pending"
    elif charge.get("refunded") or refunded >= amount:
        status = "refunded"
    else:
        status, amount = "paid", amount - refunded  # a partial refund keeps the rest
    billing = charge.get("billing_details") or {}
    metadata = charge.get("metadata") or {}
    order = NewOrder(
        project_id=None, customer_name=(billing.get("name") or "")[:200],
        customer_email=(billing.get("email") or charge.get("receipt_email") or "")[:320],
        amount_minor=amount, currency=normalize_currency(charge["currency"]), status=status,
        source="stripe", external_id=str(charge["id"]),
        description=charge.get("description") or "",
        created_at=datetime.fromtimestamp(int(charge["created"]), UTC),
    )
    return order, metadata.get("project") or metadata.get("titan_project")


# -- Shopify ------------------------------------------------------------------------------

async def shopify_orders(client: httpx.AsyncClient, base: str, token: str
                         ) -> AsyncIterator[dict[str, Any]]:
    first_page = f"{base.rstrip('/')}/admin/api/{SHOPIFY_API_VERSION}/orders.json"
    store = _origin(first_page)
    url: str | None = first_page
    params: dict[str, Any] | None = {"status": "any", "limit": 250}
    while url:
        response = await client.get(url, params=params,
                                    headers={"X-Shopify-Access-Token": token})
        for order in _json(response, "Shopify").get("orders") or []:
            yield order
        # The next page's URL carries its own page_info cursor and limit. It must stay on the
        # store's host: the token goes with every request.
        url, params = response.links.get("next", {}).get("url"), None
        if url is not None:
            url = urljoin(str(response.url), url)
            if _origin(url) != store:
                raise SyncError(f"Shopify's next-page link leads to another host "
                                f"({urlsplit(url).netloc[:100]}, not {store[1]}); Titan does "
                                "not send the store's token there")


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


_SHOPIFY_STATUS = {"paid": "paid", "partially_refunded": "paid", "refunded": "refunded",
                   "pending": "pending", "authorized": "pending", "partially_paid": "pending"}


def shopify_order(order: dict[str, Any]) -> tuple[NewOrder, str | None] | None:
    """An order plus the project slug its line items name (by SKU); voided ones are None."""
    status = _SHOPIFY_STATUS.get(order.get("financial_status") or "")
    if status is None:
        return None
    currency = normalize_currency(order["currency"])
    total = order.get("current_total_price") or order.get("total_price") or "0"
    customer = order.get("customer") or {}
    name = " ".join(p for p in (customer.get("first_name"), customer.get("last_name")) if p)
    items = order.get("line_items") or []
    description = ", ".join(
        f"{i.get('quantity', 1)} × {i.get('title', 'item')}"  # noqa: RUF001
        if (i.get("quantity") or 1) > 1
        else str(i.get("title", "item")) for i in items)
    slug = next((i["sku"] for i in items if i.get("sku")), None)
    new = NewOrder(
        project_id=None, customer_name=name[:200],
        customer_email=(order.get("email") or customer.get("email") or "")[:320],
        amount_minor=parse_amount(str(total), currency), currency=currency, status=status,
        source="shopify", external_id=str(order["id"]), description=description,
        created_at=datetime.fromisoformat(order["created_at"]),
    )
    return new, slug


# -- running a sync -----------------------------------------------------------------------

def _json(response: httpx.Response, service: str) -> dict[str, Any]:
    if response.is_success:
        return response.json()
    try:
        body = response.json()
        detail = (body.get("error") or {}).get("message") if service == "Stripe" \
            else body.get("errors")
    except ValueError:
        detail = None
    raise SyncError(f"{service} answered HTTP {response.status_code}"
                    + (f": {detail}" if detail else ""))


async def _store(db: Database, source: str, pulled: list[tuple[NewOrder, str | None]]
                 ) -> SyncResult:
    async with db.session() as session:
        found = await project_ids(session, {s for _, s in pulled if s})
        rows = [NewOrder(**{**_fields(o), "project_id": found.get(s or "")})
                for o, s in pulled]
        inserted, updated = await upsert(session, rows)
    log.info(f"{source} sync: {len(rows)} fetched, {inserted} new, {updated} updated",
             source=source)
    return SyncResult(source, len(rows), inserted, updated)


def _fields(order: NewOrder) -> dict[str, Any]:
    return {name: getattr(order, name) for name in NewOrder.__slots__}


async def _pull(items: AsyncIterator[dict[str, Any]],
                convert: Callable[[dict[str, Any]], tuple[NewOrder, str | None] | None],
                service: str) -> list[tuple[NewOrder, str | None]]:
    pulled = []
    async for item in items:
        try:
            converted = convert(item)
        except (KeyError, TypeError, ValueError) as exc:
            raise SyncError(f"{service} sent an item Titan cannot read "
                            f"({item.get('id', '?')}): {exc}") from None
        if converted is not None:
            pulled.append(converted)
    return pulled


async def sync_sources(db: Database, settings: Settings, *,
                       client: httpx.AsyncClient | None = None) -> list[SyncResult]:
    """Pull every connected source; raises SyncError if none is connected or one fails."""
    connected = [s.name for s in source_status(settings) if s.connected]
    if not connected:
        raise SyncError("no sales source is connected. " + not_connected_hint(settings))
    own_client = client is None
    client = client or httpx.AsyncClient(timeout=30.0)
    results = []
    try:
        if "stripe" in connected:
            assert settings.stripe_api_key is not None
            pulled = await _pull(stripe_charges(client, settings.stripe_api_base,
                                                settings.stripe_api_key.get_secret_value()),
                                 stripe_order, "Stripe")
            results.append(await _store(db, "stripe", pulled))
        if "shopify" in connected:
            assert settings.shopify_token is not None and settings.shopify_store
            base = settings.shopify_api_base or _shopify_base(settings.shopify_store)
            pulled = await _pull(shopify_orders(client, base,
                                                settings.shopify_token.get_secret_value()),
                                 shopify_order, "Shopify")
            results.append(await _store(db, "shopify", pulled))
    except httpx.HTTPError as exc:
        raise SyncError(f"cannot reach the sales source: {exc}") from None
    finally:
        if own_client:
            await client.aclose()
    return results


def _shopify_base(store: str) -> str:
    store = store.strip().removeprefix("https://").rstrip("/")
    return f"https://{store if '.' in store else store + '.myshopify.com'}"
