"""The worker's configuration decides what ops.test runs, not the proposer's environment."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from tests.conftest import spawn_worker, titan


def test_the_workers_test_command_runs_not_the_proposers(ops_env: dict, tmp_path: Path
                                                          ) -> None:
    proposer = {**ops_env, "OPS_TEST_COMMAND": "python -c 'raise SystemExit(3)'"}
    worker_env = {**ops_env, "OPS_TEST_COMMAND": "python -m pytest -q -p no:cacheprovider tests"}
    notes = tmp_path / "notes.md"
    notes.write_text("notes\n")
    proposed = titan(proposer, "ops", "propose", "--title", "Notes", "--patch",
                     f"docs/notes.md={notes}", "--json")
    assert proposed.returncode == 0, proposed.stderr
    change_id = str(json.loads(proposed.stdout)["id"])
    worker = spawn_worker(worker_env, "--concurrency", "1")
    try:
        deadline = time.monotonic() + 120
        while True:
            data = json.loads(titan(ops_env, "ops", "show", change_id, "--json").stdout)
            if data["status"] in ("awaiting_approval", "rolled_back", "failed"):
                break
            assert time.monotonic() < deadline, f"stuck in {data['status']}"
            time.sleep(0.3)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert data["status"] == "awaiting_approval", data["reason"]
    assert data["testCommand"] == worker_env["OPS_TEST_COMMAND"]
    assert "1 passed" in data["testSummary"]
