"""Loopback stand-ins for Stripe and Shopify (the real services cannot be reached from tests).

Each speaks the documented list format of its service:
- Stripe ``GET /v1/charges``: ``{"object": "list", "data": [...], "has_more": bool}``, cursor
  ``starting_after=<charge id>``, ``Authorization: Bearer <secret key>``, errors as
  ``{"error": {"message": ...}}``.
- Shopify ``GET /admin/api/2024-01/orders.json``: ``{"orders": [...]}``, next page in
  ``Link: <url?page_info=...>; rel="next"``, ``X-Shopify-Access-Token`` header, errors as
  ``{"errors": ...}``.
Pages are deliberately small so every test crosses a page boundary.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

PAGE_SIZE = 2
STRIPE_KEY = "sk_test_loopback"
SHOPIFY_TOKEN = "shpat_loopback"


class FakeShops:
    def __init__(self) -> None:
        self.charges: list[dict[str, Any]] = []  # newest first, as Stripe lists them
        self.orders: list[dict[str, Any]] = []
        self.requests: list[str] = []
        self.base = ""


def stripe_charge(cid: str, amount: int, created: int, **extra: Any) -> dict[str, Any]:
    charge = {"id": cid, "object": "charge", "amount": amount, "amount_refunded": 0,
              "currency": "usd", "created": created, "status": "succeeded", "refunded": False,
              "description": None, "receipt_email": None, "metadata": {},
              "billing_details": {"name": None, "email": None}}
    charge.update(extra)
    return charge


def shopify_order(oid: int, total: str, created_at: str, **extra: Any) -> dict[str, Any]:
    order = {"id": oid, "name": f"#{oid}", "created_at": created_at, "currency": "USD",
             "total_price": total, "current_total_price": total, "financial_status": "paid",
             "email": None, "customer": None, "line_items": []}
    order.update(extra)
    return order


def _handler(shops: FakeShops) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            shops.requests.append(self.path)
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/v1/charges":
                self._stripe(query)
            elif url.path == "/admin/api/2024-01/orders.json":
                self._shopify(query)
            else:
                self._send(404, {"error": {"message": "Unrecognized request URL"}})

        def _stripe(self, query: dict[str, str]) -> None:
            if self.headers.get("Authorization") != f"Bearer {STRIPE_KEY}":
                self._send(401, {"error": {"type": "invalid_request_error",
                                           "message": "Invalid API Key provided"}})
                return
            ids = [c["id"] for c in shops.charges]
            start = ids.index(query["starting_after"]) + 1 if "starting_after" in query else 0
            size = min(int(query.get("limit", 10)), PAGE_SIZE)
            page = shops.charges[start:start + size]
            self._send(200, {"object": "list", "url": "/v1/charges", "data": page,
                             "has_more": start + size < len(shops.charges)})

        def _shopify(self, query: dict[str, str]) -> None:
            if self.headers.get("X-Shopify-Access-Token") != SHOPIFY_TOKEN:
                self._send(401, {"errors": "[API] Invalid API key or access token"})
                return
            if "page_info" in query and "status" in query:  # as Shopify: cursor pages only
                self._send(400, {"errors": {"page_info": "Invalid value."}})
                return
            start = int(query.get("page_info", "0"))
            page = shops.orders[start:start + PAGE_SIZE]
            headers = {}
            if start + PAGE_SIZE < len(shops.orders):
                headers["Link"] = (f"<{shops.base}/admin/api/2024-01/orders.json?limit=250"
                                   f"&page_info={start + PAGE_SIZE}>; rel=\"next\"")
            self._send(200, {"orders": page}, headers)

    return Handler


@contextmanager
def fake_shops() -> Iterator[FakeShops]:
    shops = FakeShops()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(shops))
    shops.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield shops
    finally:
        server.shutdown()
        server.server_close()
