"""Benchmarks never touch your data: run with DATABASE_URL and TITAN_HOME pointing at a real
Titan database and home, a benchmark imports its orders into its own embedded PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg

from tests.conftest import ROOT
from worker.db.engine import libpq_url


def _counts(db_url: str) -> tuple[int, int]:
    with psycopg.connect(libpq_url(db_url)) as conn:
        orders = conn.execute("SELECT count(*) FROM orders").fetchone()
        projects = conn.execute("SELECT count(*) FROM projects").fetchone()
    assert orders and projects
    return orders[0], projects[0]


def test_sales_import_bench_writes_nothing_into_database_url(db_url: str, tmp_path: Path
                                                             ) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": libpq_url(db_url), "TITAN_HOME": str(home)}
    done = subprocess.run([sys.executable, "bench/sales_import.py", "--rows", "40"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "import: 40 rows, 40 inserted" in done.stdout  # it did import, elsewhere
    assert _counts(db_url) == (0, 0)
    assert list(home.iterdir()) == []
