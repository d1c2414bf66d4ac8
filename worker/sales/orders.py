"""Orders in: one validation for every way in (dialog, CLI, CSV, API) and a bulk writer.

``OrderIn`` is the shape a person or a client sends (amount in major units as written, or
``amountMinor``); ``NewOrder`` is the validated row. Rows are written with one multi-row
``INSERT ... SELECT FROM unnest(arrays)`` so 10,000 CSV lines cost one round trip.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from worker.db.engine import Database
from worker.db.models import Order, Project
from worker.errors import InvalidInput
from worker.sales.clock import local_timezone
from worker.sales.money import MAX_AMOUNT_MINOR, normalize_currency, parse_amount, to_decimal

ORDER_STATUSES = ("paid", "refunded", "pending")
BIGINT_MAX = 2**63 - 1  # the largest id a row can have
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class OrderIn(BaseModel):
    """One order as sent by a person or a client. Field order matters: currency before amount."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", str_strip_whitespace=True)

    project: str | None = Field(None, max_length=100, description="project slug or id")
    customer: str = Field("", max_length=200)
    email: str = Field("", max_length=320)
    currency: str = Field(description="ISO 4217 code, e.g. USD")
    amount_minor: int | None = Field(None, alias="amountMinor", ge=0,
                                     le=MAX_AMOUNT_MINOR,
                                     description="or the amount in minor units: 12900")
    # Validated after currency and amountMinor; holds the final amount in minor units.
    amount: Any = Field(None, description="major units as written: '129.00'",
                        validate_default=True)
    status: Literal["paid", "refunded", "pending"] = "paid"
    source: str = Field("manual", pattern=r"^[a-z][a-z0-9_-]{0,29}$")
    external_id: str | None = Field(None, alias="externalId", min_length=1, max_length=200)
    created_at: datetime | None = Field(None, alias="date",
                                        description="when it sold: YYYY-MM-DD or ISO time")
    description: str = Field("", max_length=2000)

    @field_validator("project", "customer", "email", "source", "external_id", "description")
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        # PostgreSQL text cannot hold NUL: say which field instead of failing on insert.
        if value is not None and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value

    @field_validator("project", mode="before")
    @classmethod
    def _project_text(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value or None

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be a three-letter ISO currency code such as USD")
        return normalize_currency(value)

    @field_validator("created_at", mode="before")
    @classmethod
    def _when(cls, value: Any) -> datetime | None:
        if value is None or value == "" or isinstance(value, datetime):
            return value or None
        if isinstance(value, date):
            return datetime.combine(value, time(0))
        try:
            return datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a date (YYYY-MM-DD) or an ISO time") from None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if value and not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an email address")
        return value.lower()

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: Any, info: ValidationInfo) -> int | None:
        currency = info.data.get("currency")
        minor = info.data.get("amount_minor")
        if value is None or value == "":
            if minor is None and "amount_minor" in info.data:
                raise ValueError("give amount (e.g. '129.00') or amountMinor (e.g. 12900)")
            return minor
        if currency is None:  # the currency error is reported on its own field
            return None
        if isinstance(value, float):  # a JSON number: its shortest repr is what was written
            value = Decimal(repr(value))
        if not isinstance(value, str | int | Decimal):
            raise ValueError("must be a number such as '129.00'")
        parsed = parse_amount(value, currency)
        if minor is not None and minor != parsed:
            raise ValueError(f"is {parsed} minor units but amountMinor says {minor}")
        return parsed

    @property
    def minor(self) -> int:
        return int(self.amount)


def parse_order(data: dict[str, Any]) -> OrderIn:
    """Validate raw input; the first problem becomes InvalidInput naming its field."""
    try:
        return OrderIn.model_validate(data)
    except ValidationError as exc:
        raise invalid_input(exc) from None


def invalid_input(exc: ValidationError) -> InvalidInput:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"])
    return InvalidInput(field or "body", str(first["msg"]).removeprefix("Value error, "))


def as_timestamp(value: datetime | date | None, tz: ZoneInfo | None = None) -> datetime:
    """A date means local midnight; a naive time is local; None is now."""
    tz = tz or local_timezone()
    if value is None:
        return datetime.now(UTC)
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0), tzinfo=tz)
    return value if value.tzinfo else value.replace(tzinfo=tz)


@dataclass(frozen=True, slots=True)
class NewOrder:
    """A validated row of ``orders``."""

    project_id: int | None
    customer_name: str
    customer_email: str
    amount_minor: int
    currency: str
    status: str
    source: str
    external_id: str
    description: str
    created_at: datetime


def new_order(order: OrderIn, project_id: int | None, *, source: str | None = None,
              tz: ZoneInfo | None = None) -> NewOrder:
    return NewOrder(
        project_id=project_id, customer_name=order.customer, customer_email=order.email,
        amount_minor=order.minor, currency=order.currency, status=order.status,
        source=source or order.source,
        external_id=order.external_id or f"{order.source}-{uuid.uuid4().hex}",
        description=order.description, created_at=as_timestamp(order.created_at, tz),
    )


async def project_ids(session: AsyncSession, refs: set[str]) -> dict[str, int]:
    """Map project slugs (and numeric ids written as text) to ids; unknown refs are absent."""
    if not refs:
        return {}
    numeric = {int(r) for r in refs if r.isascii() and r.isdigit() and int(r) <= BIGINT_MAX}
    rows = await session.execute(
        select(Project.id, Project.slug).where(
            Project.slug.in_(refs) | Project.id.in_(numeric)))
    found: dict[str, int] = {}
    for pid, slug in rows:
        found[slug] = pid
        found[str(pid)] = pid
    return found


_COLUMNS = ("project_id", "customer_name", "customer_email", "amount_minor", "currency",
            "status", "source", "external_id", "description", "created_at")
_TYPES = ("bigint", "text", "text", "bigint", "text", "text", "text", "text", "text",
          "timestamptz")
_UNNEST = ", ".join(f"CAST(:{c} AS {t}[])" for c, t in zip(_COLUMNS, _TYPES, strict=True))
_INSERT_HEAD = f"""
    INSERT INTO orders ({", ".join(_COLUMNS)})
    SELECT * FROM unnest({_UNNEST})
    ON CONFLICT (source, external_id)
"""
_INSERT_NEW = text(_INSERT_HEAD + " DO NOTHING")
# Pulled sources change under us (a charge gets refunded): refresh what may change.
_UPSERT = text(_INSERT_HEAD + """
    DO UPDATE SET status = EXCLUDED.status, amount_minor = EXCLUDED.amount_minor,
                  customer_name = EXCLUDED.customer_name,
                  customer_email = EXCLUDED.customer_email,
                  description = EXCLUDED.description,
                  project_id = coalesce(EXCLUDED.project_id, orders.project_id)
    WHERE (orders.status, orders.amount_minor, orders.customer_name, orders.customer_email,
           orders.description, orders.project_id)
          IS DISTINCT FROM
          (EXCLUDED.status, EXCLUDED.amount_minor, EXCLUDED.customer_name,
           EXCLUDED.customer_email, EXCLUDED.description,
           coalesce(EXCLUDED.project_id, orders.project_id))
    RETURNING (xmax = 0) AS inserted
""")


def _arrays(rows: Sequence[NewOrder]) -> dict[str, list[Any]]:
    return {c: [getattr(r, c) for r in rows] for c in _COLUMNS}


async def insert_new(session: AsyncSession, rows: Sequence[NewOrder]) -> int:
    """Insert rows whose (source, external id) is new, in one statement; returns how many."""
    if not rows:
        return 0
    result = await session.execute(_INSERT_NEW, _arrays(rows))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]  # an UPDATE/DELETE result is a CursorResult


async def upsert(session: AsyncSession, rows: Sequence[NewOrder]) -> tuple[int, int]:
    """Insert new rows and refresh changed ones; returns (inserted, updated)."""
    if not rows:
        return 0, 0
    flags = (await session.execute(_UPSERT, _arrays(rows))).scalars().all()
    inserted = sum(1 for f in flags if f)
    return inserted, len(flags) - inserted


async def record_order(db: Database, data: OrderIn | dict[str, Any],
                       tz: ZoneInfo | None = None) -> tuple[Order, bool]:
    """Record one order (dialog, CLI, API). Returns (order, created); an order that already
    exists with the same source and external id is returned unchanged (idempotent retries)."""
    order = data if isinstance(data, OrderIn) else parse_order(data)
    async with db.session() as session:
        project_id = None
        if order.project:
            found = await project_ids(session, {order.project})
            if order.project not in found:
                raise InvalidInput("project", f"no project {order.project!r}")
            project_id = found[order.project]
        row = new_order(order, project_id, tz=tz)
        created = await insert_new(session, [row]) == 1
        saved = await session.scalar(select(Order).where(
            Order.source == row.source, Order.external_id == row.external_id))
    assert saved is not None
    return saved, created


def order_dict(order: Order) -> dict[str, Any]:
    return {
        "id": order.id, "projectId": order.project_id, "customer": order.customer_name,
        "email": order.customer_email, "amountMinor": order.amount_minor,
        "amount": str(to_decimal(order.amount_minor, order.currency)),
        "currency": order.currency, "status": order.status, "source": order.source,
        "externalId": order.external_id, "description": order.description,
        "createdAt": order.created_at.isoformat() if order.created_at else None,
    }
