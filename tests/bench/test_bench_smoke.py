"""bench/queue_vs_peers.py still runs end to end: Titan's real worker CLI and each peer's worker
process drain their queue and pick up single jobs (``--smoke``: 200 jobs, 10 pickups, no tuning).

Checks only that every queue appears in the result table; the figures are not judged here.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytest.importorskip("pgqueuer", reason="benchmark-only dependency (the bench extra)")
pytest.importorskip("procrastinate", reason="benchmark-only dependency (the bench extra)")
pytest.importorskip("asyncpg", reason="benchmark-only dependency (the bench extra)")


def test_queue_vs_peers_smoke_run_reports_every_queue() -> None:
    done = subprocess.run([sys.executable, "bench/queue_vs_peers.py", "--smoke"], cwd=ROOT,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    table = done.stdout.split("Results:", 1)[1]
    for label in ("Titan (default settings)", "pgqueuer (psycopg)", "pgqueuer (asyncpg)",
                  "procrastinate"):
        assert label in table
    assert "Titan / best peer" in table
