"""How long ``titan sales import`` takes for a 10,000-order CSV (target: under 5 s).

    python bench/sales_import.py [--rows 10000]

Runs on its own embedded PostgreSQL (pgserver) in a temp dir, whatever DATABASE_URL and
TITAN_HOME say, so nothing touches your data. Prints the time of the import (parse + validate +
one INSERT) and of a second, idempotent import of the same file.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

# The repository root instead of bench/ (whose queue.py would shadow the stdlib's).
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from sqlalchemy import text  # noqa: E402

from bench.common import embedded_server, forget_user_data  # noqa: E402
from worker.db.engine import Database  # noqa: E402
from worker.db.migrate import upgrade  # noqa: E402
from worker.sales.csvimport import import_csv  # noqa: E402


def write_csv(path: Path, rows: int, run: str) -> None:
    currencies = ("USD", "EUR", "GBP", "JPY")
    with path.open("w", encoding="utf-8") as out:
        out.write("date,project slug,customer,email,amount,currency,status,external id\n")
        for i in range(rows):
            currency = currencies[i % 4]
            amount = f"{1000 + i % 5000}" if currency == "JPY" else f"{5 + i % 300}.{i % 100:02d}"
            status = ("paid", "paid", "paid", "refunded", "pending")[i % 5]
            out.write(f"2024-{1 + i % 12:02d}-{1 + i % 28:02d},bench-project,Customer {i},"
                      f"c{i}@example.com,{amount},{currency},{status},bench-{run}-{i}\n")


async def run(url: str, rows: int) -> None:
    db = Database(url)
    try:
        async with db.session() as s:
            await s.execute(text(
                "INSERT INTO projects (name, slug, template_ref, status) VALUES "
                "('Bench project', 'bench-project', 'persona/basic', 'published') "
                "ON CONFLICT (slug) DO NOTHING"))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "orders.csv"
            write_csv(path, rows, uuid.uuid4().hex[:8])
            for label in ("import", "re-import (all skipped)"):
                started = time.perf_counter()
                result = await import_csv(db, path)
                elapsed = time.perf_counter() - started
                print(f"{label}: {result.rows} rows, {result.inserted} inserted in "
                      f"{elapsed:.2f} s ({result.rows / elapsed:,.0f} rows/s)")
    finally:
        await db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    forget_user_data()
    with tempfile.TemporaryDirectory(prefix="titan-bench-sales-") as tmp:
        os.chmod(tmp, 0o755)  # pgserver drops to its own user when run as root
        with embedded_server(Path(tmp) / "server") as url:
            upgrade(url)
            asyncio.run(run(url, args.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
