"""`titan ops ...` through the real CLI, with a real `titan worker` process driving the loop."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from tests.conftest import spawn_worker, titan
from tests.helpers import wait_until_blocking
from tests.ops.conftest import git


def _show(env: dict, change_id: int) -> dict:
    shown = titan(env, "ops", "show", str(change_id), "--json")
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def _wait(env: dict, change_id: int, *statuses: str, timeout: float = 90) -> dict:
    """Poll the database directly (a CLI call per poll would be slow), then show via the CLI."""
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        wait_until_blocking(
            lambda: conn.execute("SELECT status, reason FROM ops_changes WHERE id = %s",
                                 (change_id,)).fetchone(),
            timeout, f"change {change_id} in {statuses}", done=lambda row: row[0] in statuses,
            interval=0.2)
    return _show(env, change_id)


def test_propose_approve_promote_from_the_command_line(ops_env: dict, tiny_repo: Path,
                                                       tmp_path: Path) -> None:
    new_readme = tmp_path / "README.new"
    new_readme.write_text("# Tiny\n\nFrom the CLI.\n")
    bad = titan(ops_env, "ops", "propose", "--title", "Sneaky", "--patch",
                f"infra/main.tf={new_readme}")
    assert bad.returncode == 2
    assert "'infra/main.tf'" in bad.stderr and "rule protected" in bad.stderr
    with psycopg.connect(ops_env["DATABASE_URL"]) as conn:  # nothing was written
        assert conn.execute("SELECT count(*) FROM ops_changes").fetchone() == (0,)

    proposed = titan(ops_env, "ops", "propose", "--title", "README from the CLI", "--patch",
                     f"README.md={new_readme}", "--json")
    assert proposed.returncode == 0, proposed.stderr
    change_id = json.loads(proposed.stdout)["id"]

    worker = spawn_worker(ops_env)
    try:
        change = _wait(ops_env, change_id, "awaiting_approval", "rolled_back", "failed")
        assert change["status"] == "awaiting_approval", change["reason"]
        assert "+From the CLI." in change["diff"] and "1 passed" in change["testSummary"]

        approved = titan(ops_env, "ops", "approve", str(change_id), "--comment", "ship it")
        assert approved.returncode == 0 and "approved" in approved.stdout
        change = _wait(ops_env, change_id, "promoted", "rolled_back", "failed")
        assert change["status"] == "promoted", change["reason"]
        assert change["approvals"][0]["comment"] == "ship it"
        assert git(tiny_repo, "show", "main:README.md") == new_readme.read_text()
        listed = titan(ops_env, "ops", "list")
        assert "README from the CLI" in listed.stdout and "promoted" in listed.stdout
    finally:
        worker.terminate()
        worker.wait(30)
