"""The benchmarks still run end to end (their smoke modes); the figures are not judged here.

bench/queue_vs_peers.py: Titan's real worker CLI and each peer's worker process drain their
queue and pick up single jobs (``--smoke``: 200 jobs, 10 pickups, no tuning); every queue
appears in the result table. bench/planner.py: the local model plans two descriptions.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.conftest import ROOT
from worker.db.engine import libpq_url


def test_queue_vs_peers_smoke_run_reports_every_queue() -> None:
    for module in ("pgqueuer", "procrastinate", "asyncpg"):
        pytest.importorskip(module, reason="benchmark-only dependency (the bench extra)")
    done = subprocess.run([sys.executable, "bench/queue_vs_peers.py", "--smoke"], cwd=ROOT,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    table = done.stdout.split("Results:", 1)[1]
    for label in ("Titan (default settings)", "pgqueuer (psycopg)", "pgqueuer (asyncpg)",
                  "procrastinate"):
        assert label in table
    assert "Titan / best peer" in table


@pytest.mark.slow
def test_planner_bench_smoke_run_reports_the_local_model_and_leaves_your_data_alone(
        db_url: str, tmp_path: Path) -> None:
    """bench/planner.py --smoke (two descriptions) plans with the local model into its own
    embedded PostgreSQL: a SmolLM2 row in the table, no ledger row in DATABASE_URL, nothing in
    TITAN_HOME. Only that the row is there is checked, not its figures."""
    from worker.ai.local import local_unavailable_reason

    reason = local_unavailable_reason()
    if reason is not None:
        pytest.skip(f"the ai-local extra is not installed: {reason}")
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": libpq_url(db_url),
           "TITAN_HOME": str(home)}
    done = subprocess.run([sys.executable, "bench/planner.py", "--smoke"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    [row] = [line for line in done.stdout.splitlines()
             if line.startswith("SmolLM2-135M-Instruct Q4_1 (local)")]
    assert "/2" in row
    assert "Sunflower Bakery" in done.stdout and "Word Counter" in done.stdout
    with psycopg.connect(libpq_url(db_url)) as conn:
        assert conn.execute("SELECT count(*) FROM ai_calls").fetchone() == (0,)
    assert list(home.iterdir()) == []
