"""``titan sales import``: a good file, a bad row (nothing written), re-import (no duplicates).

Real PostgreSQL; the CLI cases run the real ``titan`` command in a subprocess.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import titan
from tests.sales.helpers import add_project
from worker.sales.csvimport import BadRow, import_csv

GOOD = """date,project slug,customer,email,amount,currency,status,external id
2024-06-01,persona-site,Ann Lee,ann@example.com,129.00,USD,paid,A-1
2024-06-02T15:30:00+02:00,persona-site,Bob,BOB@example.com,"1,299.50",usd,paid,A-2
2024-06-03,ebook,Cleo,,15.5,EUR,refunded,A-3
2024-06-03,ebook,,,1200,JPY,pending,A-4
"""


async def order_rows(db) -> list[tuple]:
    async with db.session() as s:
        return (await s.execute(text(
            "SELECT external_id, amount_minor, currency, status, customer_email, source, "
            "project_id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') "
            "FROM orders ORDER BY external_id"))).all()


async def test_good_file_imports_every_row_exactly(db, tmp_path: Path) -> None:
    site = await add_project(db, "persona-site")
    ebook = await add_project(db, "ebook", currency="EUR")
    path = tmp_path / "orders.csv"
    path.write_text(GOOD, encoding="utf-8")

    result = await import_csv(db, path)

    assert (result.rows, result.inserted, result.skipped) == (4, 4, 0)
    rows = await order_rows(db)
    assert [r[:7] for r in rows] == [
        ("A-1", 12900, "USD", "paid", "ann@example.com", "csv", site),
        ("A-2", 129950, "USD", "paid", "bob@example.com", "csv", site),
        ("A-3", 1550, "EUR", "refunded", "", "csv", ebook),
        ("A-4", 1200, "JPY", "pending", "", "csv", ebook),
    ]
    assert rows[1][7] == "2024-06-02 13:30"  # its own offset kept


async def test_reimport_adds_only_new_rows(db, tmp_path: Path) -> None:
    await add_project(db, "persona-site")
    await add_project(db, "ebook")
    path = tmp_path / "orders.csv"
    path.write_text(GOOD, encoding="utf-8")
    await import_csv(db, path)

    path.write_text(GOOD + "2024-06-04,ebook,Dee,,9.99,EUR,paid,A-5\n", encoding="utf-8")
    again = await import_csv(db, path)

    assert (again.rows, again.inserted, again.skipped) == (5, 1, 4)
    assert [r[0] for r in await order_rows(db)] == ["A-1", "A-2", "A-3", "A-4", "A-5"]


@pytest.mark.parametrize(("bad_line", "expected"), [
    ("2024-06-05,persona-site,Eve,,12.345,USD,paid,B-9", "line 5: amount: '12.345' has more"),
    ("2024-06-05,persona-site,Eve,,12.00,DOLLARS,paid,B-9", "line 5: currency:"),
    ("2024-06-05,persona-site,Eve,,12.00,USD,shipped,B-9", "line 5: status:"),
    ("yesterday,persona-site,Eve,,12.00,USD,paid,B-9", "line 5: date:"),
    ("2024-06-05,persona-site,Eve,not-an-email,12.00,USD,paid,B-9", "line 5: email:"),
    ("2024-06-05,nope,Eve,,12.00,USD,paid,B-9", "line 5: project: no project 'nope'"),
    ("2024-06-05,persona-site,Eve,,12.00,USD,paid,A-1", "line 5: external id: 'A-1' already "
     "appears on line 2"),
    ("2024-06-05,persona-site,Eve,,12.00,USD,paid,", "line 5: external id:"),
])
async def test_a_bad_row_names_its_line_and_writes_nothing(db, tmp_path: Path, bad_line: str,
                                                            expected: str) -> None:
    await add_project(db, "persona-site")
    await add_project(db, "ebook")
    path = tmp_path / "orders.csv"
    rows = GOOD.splitlines()
    path.write_text("\n".join([*rows[:4], bad_line, rows[4]]) + "\n", encoding="utf-8")

    with pytest.raises(BadRow) as caught:
        await import_csv(db, path)

    assert str(caught.value).startswith(expected)
    assert caught.value.line == 5
    assert await order_rows(db) == []


async def test_cli_import_then_summary(titan_env: dict, db, tmp_path: Path) -> None:
    await add_project(db, "persona-site")
    await add_project(db, "ebook")
    good = tmp_path / "good.csv"
    good.write_text(GOOD, encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text(GOOD.replace("129.00", "12.9.0"), encoding="utf-8")

    failed = titan(titan_env, "sales", "import", str(bad))
    assert failed.returncode == 2
    assert "line 2: amount: '12.9.0' is not a number" in failed.stderr

    done = titan(titan_env, "sales", "import", str(good))
    assert done.returncode == 0, done.stderr
    assert "imported 4 order(s) from good.csv" in done.stdout
    again = titan(titan_env, "sales", "import", str(good), "--json")
    assert json.loads(again.stdout) == {"rows": 4, "inserted": 0, "skipped": 4}

    summary = titan(titan_env, "sales", "summary", "--json", "--since", "2024-06-02")
    assert summary.returncode == 0, summary.stderr
    data = json.loads(summary.stdout)
    per = {c["currency"]: c for c in data["currencies"]}
    assert per["USD"]["revenue_all"] == 129950 and per["USD"]["orders"] == 1
    assert per["EUR"]["refunds"] == 1 and per["EUR"]["revenue_all"] == 0
    assert per["JPY"]["pending_minor"] == 1200
    assert [s["connected"] for s in data["sources"]] == [False, False]


async def test_header_problems_are_named(db, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("date,project,amount,currency\n2024-06-01,x,1,USD\n", encoding="utf-8")
    with pytest.raises(BadRow, match="line 1: external id: missing column"):
        await import_csv(db, path)
    path.write_text("date,project,amount,currency,external id,colour\n", encoding="utf-8")
    with pytest.raises(BadRow, match="line 1: colour: unknown column"):
        await import_csv(db, path)
