"""``titan sales import FILE.csv``: all rows or none.

Columns (header required, any order, case and spacing ignored): date, project (slug),
customer, email, amount (major units as written, "129.00"), currency, status
(paid|refunded|pending, default paid), external id. Every row is validated before anything is
written; the first bad row is reported with its line number and the file writes nothing.
Re-importing a file is harmless: rows whose external id was already imported are skipped.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from worker.db.engine import Database
from worker.errors import InvalidInput
from worker.sales.orders import NewOrder, OrderIn, insert_new, invalid_input, new_order, project_ids

CSV_SOURCE = "csv"
# Header spellings people (and spreadsheet exports) use, normalised to OrderIn's field names.
_HEADERS = {
    "date": "date", "created_at": "date", "created": "date", "order_date": "date",
    "project": "project", "project_slug": "project", "slug": "project",
    "customer": "customer", "customer_name": "customer", "name": "customer",
    "email": "email", "customer_email": "email",
    "amount": "amount", "total": "amount", "price": "amount",
    "currency": "currency",
    "status": "status",
    "external_id": "external_id", "externalid": "external_id", "order_id": "external_id",
    "id": "external_id",
    "description": "description",
}
REQUIRED = ("date", "project", "amount", "currency", "external_id")
COLUMNS = ("date", "project", "customer", "email", "amount", "currency", "status",
           "external_id")


class BadRow(InvalidInput):
    """A CSV row that cannot be imported: ``line 7: amount: '12.345' has more than ...``."""

    def __init__(self, line: int, column: str, message: str) -> None:
        super().__init__(f"line {line}", f"{column}: {message}" if column else message)
        self.line = line
        self.column = column


@dataclass(frozen=True)
class ImportResult:
    rows: int
    inserted: int

    @property
    def skipped(self) -> int:
        """Rows already imported before (same external id)."""
        return self.rows - self.inserted


def _column_name(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidInput("FILE", f"{path} does not exist") from None
    except IsADirectoryError:
        raise InvalidInput("FILE", f"{path} is a directory, not a CSV file") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise BadRow(line, "", "the file is not UTF-8 text") from None
    except OSError as exc:
        raise InvalidInput("FILE", f"cannot read {path}: {exc.strerror}") from None


def parse_csv(content: str, tz: ZoneInfo | None = None) -> list[tuple[int, OrderIn]]:
    """Validate every row (no database yet); returns (line number, order) pairs."""
    if "\x00" in content:  # binary data, or a UTF-16 export read as UTF-8
        line = content[:content.index("\x00")].count("\n") + 1
        raise BadRow(line, "", "contains a NUL character; expected UTF-8 CSV text")
    reader = csv.reader(io.StringIO(content, newline=""))
    header = next(reader, None)
    if header is None:
        raise InvalidInput("FILE", "the file is empty; expected a header row: "
                           + ",".join(COLUMNS))
    fields = [_HEADERS.get(_column_name(h)) for h in header]
    unknown = [h for h, f in zip(header, fields, strict=True) if f is None and h.strip()]
    if unknown:
        raise BadRow(1, unknown[0], "unknown column; expected " + ", ".join(COLUMNS))
    missing = [c for c in REQUIRED if c not in fields]
    if missing:
        raise BadRow(1, missing[0].replace("_", " "), "missing column; the header must name "
                     + ", ".join(COLUMNS))
    orders: list[tuple[int, OrderIn]] = []
    first_line: dict[str, int] = {}
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(fields):
            raise BadRow(line, "", f"{len(values)} values for {len(fields)} columns")
        data = {f: v for f, v in zip(fields, values, strict=True) if f is not None}
        data["source"] = CSV_SOURCE
        data.setdefault("status", "paid")
        data["status"] = data["status"].strip().lower() or "paid"
        try:
            order = OrderIn.model_validate(data)
        except ValidationError as exc:
            error = invalid_input(exc)
            raise BadRow(line, error.field.replace("_", " "), error.message) from None
        key = order.external_id or ""
        if key in first_line:
            raise BadRow(line, "external id", f"{key!r} already appears on line "
                         f"{first_line[key]}")
        first_line[key] = line
        orders.append((line, order))
    return orders


async def import_csv(db: Database, path: Path, tz: ZoneInfo | None = None) -> ImportResult:
    """Import ``path`` in one transaction: every row, or nothing and a BadRow."""
    parsed = parse_csv(_read_text(path), tz)
    async with db.session() as session:
        found = await project_ids(session, {o.project for _, o in parsed if o.project})
        rows: list[NewOrder] = []
        for line, order in parsed:
            if order.project and order.project not in found:
                raise BadRow(line, "project", f"no project {order.project!r}")
            rows.append(new_order(order, found.get(order.project or ""), tz=tz))
        inserted = await insert_new(session, rows)
    return ImportResult(rows=len(rows), inserted=inserted)
