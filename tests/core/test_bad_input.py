"""Bad input through the real ``titan`` command: one clear line on stderr, nothing written.

Each case runs the real CLI in a child process against a test database that already holds a
project and an order. Usage errors exit 2, "not found" exits 1; either way stderr is one line
that names the problem, there is no traceback, and every table is exactly as it was.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.conftest import titan
from worker.config import reload_settings
from worker.db.engine import Database
from worker.sales.orders import record_order
from worker.services.projects import ProjectService

HUGE_ID = "99999999999999999999999"
CSV_HEADER = "date,project,customer,email,amount,currency,status,external_id\n"


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    exit_code: int
    says: str  # what the one stderr line must contain

    def argv(self, tmp: Path) -> list[str]:
        return [a.format(tmp=tmp) for a in self.args]


def _record(*amount_and_currency: str) -> tuple[str, ...]:
    amount, currency = amount_and_currency
    return ("sales", "record", "--amount", amount, "--currency", currency)


CASES = {
    "project show with an id past bigint": Case(("project", "show", HUGE_ID), 1, "no project"),
    "project delete with an id past bigint": Case(("project", "delete", HUGE_ID), 1,
                                                  "no project"),
    "ops show with an id past bigint": Case(("ops", "show", HUGE_ID), 1, "no ops change"),
    "logs of a project id past bigint": Case(("logs", "--project", HUGE_ID), 1, "no project"),
    "show a number that is neither id nor name": Case(("project", "show", "2024"), 1,
                                                      "no project '2024'"),
    "amount past bigint": Case(_record("99999999999999999", "USD"), 2, "largest amount"),
    "amount at bigint's edge": Case(_record("92233720368547758.07", "USD"), 2,
                                    "largest amount"),
    "amount with an exponent": Case(_record("1e5", "USD"), 2, "plain decimal"),
    "currency XXX (no currency)": Case(_record("10.00", "XXX"), 2, "ISO 4217"),
    "currency ABC": Case(_record("10.00", "ABC"), 2, "ISO 4217"),
    "order for a project id past bigint": Case(
        (*_record("10.00", "USD"), "--project", HUGE_ID), 2, "no project"),
    "CSV with an amount past bigint": Case(("sales", "import", "{tmp}/huge.csv"), 2,
                                           "line 2: amount"),
    "CSV with a NUL byte": Case(("sales", "import", "{tmp}/nul.csv"), 2, "line 3: "),
    "CSV in currency XXX": Case(("sales", "import", "{tmp}/xxx.csv"), 2,
                                "line 2: currency"),
    "sales import of a directory": Case(("sales", "import", "{tmp}"), 2, "is a directory"),
    "api on port 70000": Case(("api", "--port", "70000"), 2, "not a TCP port"),
    "project list with an unknown status": Case(("project", "list", "--status", "bogus"), 2,
                                                "not a project status"),
    "name with an escape sequence": Case(("project", "create", "Moon\x1b[31mRed"), 2,
                                         "name: must not contain control characters"),
    "name with a newline": Case(("project", "create", "Two\nLines"), 2,
                                "name: must not contain control characters"),
    "jason say into a missing folder": Case(
        ("jason", "say", "hello", "--out", "{tmp}/missing/x.wav"), 2,
        "missing does not exist"),
}


def _write_csv_files(tmp: Path) -> None:
    (tmp / "huge.csv").write_text(
        CSV_HEADER + "2024-01-02,,Ada,,99999999999999999,USD,paid,o-1\n")
    (tmp / "nul.csv").write_text(
        CSV_HEADER + "2024-01-02,,Ada,,1.00,USD,paid,o-1\n"
        "2024-01-02,,Bo\x00b,,2.00,USD,paid,o-2\n")
    (tmp / "xxx.csv").write_text(CSV_HEADER + "2024-01-02,,Ada,,1.00,XXX,paid,o-1\n")


def database_snapshot(env: dict) -> dict[str, str]:
    """Every table's rows, hashed: equal snapshots mean nothing was written."""
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
        return {t: conn.execute(
            f'SELECT count(*) || \':\' || md5(coalesce(string_agg(t::text, \'|\' '
            f'ORDER BY t::text), \'\')) FROM "{t}" t').fetchone()[0] for t in tables}


@pytest.fixture
def seeded(titan_env: dict, db_url: str) -> dict:
    """A database with a project and an order in it: bad input must leave both alone.
    (Seeded in this process through the services: one child process per case is enough.)"""

    async def seed() -> None:
        db = Database(db_url)
        try:
            await ProjectService.from_settings(db, reload_settings()).create(
                {"name": "Moon Garden"})
            await record_order(db, {"amount": "12.50", "currency": "EUR",
                                    "project": "moon-garden", "externalId": "seed-1"})
        finally:
            await db.dispose()

    asyncio.run(seed())
    return titan_env


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_bad_input_one_line_nothing_written(case: Case, seeded: dict, tmp_path: Path) -> None:
    _write_csv_files(tmp_path)
    before = database_snapshot(seeded)
    result = titan(seeded, *case.argv(tmp_path), timeout=60)
    assert result.returncode == case.exit_code, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert case.says in lines[0], lines[0]
    assert result.stdout == ""
    assert database_snapshot(seeded) == before
    assert not (tmp_path / "missing").exists()  # jason say made no folder


def test_all_digit_name_is_found_by_name(titan_env: dict) -> None:
    """A project called 2024 is shown by ``project show 2024`` when no project has id 2024;
    an id still wins over a name that is a number."""
    created = titan(titan_env, "project", "create", "2024", "--json")
    assert created.returncode == 0, created.stderr
    first = json.loads(created.stdout)
    shown = titan(titan_env, "project", "show", "2024", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["id"] == first["id"]
    assert json.loads(shown.stdout)["name"] == "2024"
    named_one = titan(titan_env, "project", "create", str(first["id"]), "--json")
    assert named_one.returncode == 0, named_one.stderr
    by_id = json.loads(titan(titan_env, "project", "show", str(first["id"]), "--json").stdout)
    assert by_id["id"] == first["id"] and by_id["name"] == "2024"
