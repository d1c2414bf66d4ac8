"""bench/backup.py runs end to end on its own embedded PostgreSQL (a small size), verifies its
restores, and leaves DATABASE_URL's database and TITAN_HOME alone. Its figures are not judged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg

from tests.conftest import ROOT
from worker.db.engine import libpq_url


def test_backup_bench_runs_small_and_touches_nothing_of_yours(db_url: str, tmp_path: Path
                                                              ) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": libpq_url(db_url), "TITAN_HOME": str(home)}
    done = subprocess.run([sys.executable, "bench/backup.py", "--jobs", "300", "--repeat", "1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "round 1: backup" in done.stdout and "rows verified" in done.stdout
    assert "restore " in done.stdout.split("median", 1)[1]
    with psycopg.connect(libpq_url(db_url)) as conn:
        assert conn.execute("SELECT count(*) FROM jobs").fetchone() == (0,)
    assert list(home.iterdir()) == []
