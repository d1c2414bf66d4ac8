"""``titan sales import FILE.csv | sync | summary [--json] [--since DATE] | record ...``."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from worker.config import Settings
from worker.sales.clock import day_start, local_timezone


def add_commands(subparsers: Any, commands: dict[str, Any]) -> None:
    sales = subparsers.add_parser("sales", help="orders and revenue of published projects")
    # type(sales): nested parsers report errors the way the main parser does (one line, exit 2).
    sub = sales.add_subparsers(dest="sales_command", required=True, parser_class=type(sales))
    imp = sub.add_parser("import", help="import orders from a CSV file (all rows or none)")
    imp.add_argument("file", type=Path, metavar="FILE.csv")
    imp.add_argument("--json", action="store_true")
    sync = sub.add_parser("sync", help="pull orders from Stripe and Shopify")
    sync.add_argument("--json", action="store_true")
    summ = sub.add_parser("summary", help="revenue, orders and refunds per currency")
    summ.add_argument("--since", type=_date, metavar="DATE", help="only orders from DATE on")
    summ.add_argument("--json", action="store_true")
    rec = sub.add_parser("record", help="record one order by hand")
    rec.add_argument("--amount", required=True, help="major units as written, e.g. 129.00")
    rec.add_argument("--currency", required=True, help="ISO code, e.g. USD")
    rec.add_argument("--project", help="project slug or id")
    rec.add_argument("--customer", default="")
    rec.add_argument("--email", default="")
    rec.add_argument("--status", default="paid", choices=["paid", "refunded", "pending"])
    rec.add_argument("--external-id", help="makes re-recording the same order harmless")
    rec.add_argument("--date", help="when it sold (YYYY-MM-DD or ISO time; default now)")
    rec.add_argument("--description", default="")
    rec.add_argument("--json", action="store_true")
    commands["sales"] = cmd_sales


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def cmd_sales(args: argparse.Namespace, settings: Settings) -> int:
    from worker.cli import _with_db

    handlers = {"import": _import, "sync": _sync, "summary": _summary, "record": _record}
    handler = handlers[args.sales_command]
    if args.sales_command == "import" and not args.file.is_file():
        # Say so before starting (or migrating) a database for nothing.
        from worker.errors import InvalidInput

        problem = ("is a directory, not a CSV file" if args.file.is_dir()
                   else "is not a regular file" if args.file.exists() else "does not exist")
        raise InvalidInput("FILE", f"{args.file} {problem}")
    if args.sales_command == "record":
        from worker.sales.orders import parse_order

        args.order = parse_order(_order_body(args))  # bad input: refused before the database
    return _with_db(settings, lambda db: handler(db, args, settings))


def _print(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2) if args.json else text)


async def _import(db: Any, args: argparse.Namespace, settings: Settings) -> int:
    from worker.sales.csvimport import import_csv

    result = await import_csv(db, args.file)
    _print(args, {"rows": result.rows, "inserted": result.inserted, "skipped": result.skipped},
           f"imported {result.inserted} order(s) from {args.file.name}"
           + (f"; {result.skipped} already imported" if result.skipped else ""))
    return 0


async def _sync(db: Any, args: argparse.Namespace, settings: Settings) -> int:
    from worker.sales.sources import sync_sources

    results = await sync_sources(db, settings)
    _print(args, [r.__dict__ for r in results], "\n".join(
        f"{r.source}: {r.fetched} fetched, {r.inserted} new, {r.updated} updated"
        for r in results))
    return 0


async def _summary(db: Any, args: argparse.Namespace, settings: Settings) -> int:
    from worker.sales.overview import sales_overview, summary_lines

    since = day_start(args.since, local_timezone()) if args.since else None
    overview = await sales_overview(db, settings, since=since)
    _print(args, overview.as_json(), "\n".join(summary_lines(overview)))
    return 0


def _order_body(args: argparse.Namespace) -> dict[str, Any]:
    return {"amount": args.amount, "currency": args.currency, "project": args.project,
            "customer": args.customer, "email": args.email, "status": args.status,
            "externalId": args.external_id, "date": args.date,
            "description": args.description}


async def _record(db: Any, args: argparse.Namespace, settings: Settings) -> int:
    from worker.sales.money import format_money
    from worker.sales.orders import order_dict, record_order

    order, created = await record_order(db, args.order)
    verb = "recorded" if created else "already recorded"
    _print(args, order_dict(order), f"{verb} order {order.id}: "
           f"{format_money(order.amount_minor, order.currency)} ({order.status})")
    return 0


if __name__ == "__main__":  # pragma: no cover - convenience: python -m worker.sales.cli
    from worker.cli import main

    sys.exit(main(["sales", *sys.argv[1:]]))
