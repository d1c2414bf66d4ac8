"""Approve-first mode: with bubblewrap hidden (PATH without bwrap) or TITAN_SANDBOX=approve-first,
a proposed change's tests do not run until a person approves running them; the CLI and the API
say why the change waits. With TITAN_SANDBOX=bwrap and no bubblewrap nothing runs at all.
Driven through the real ops loop (CLI, a real worker process, a real git repository, the API).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.api.server import ApiServer
from tests.conftest import spawn_worker, titan
from tests.ops.conftest import ops_env, tiny_repo  # noqa: F401 (fixtures)
from worker.config import reload_settings

MARKER_TEST = '''\
from pathlib import Path


def test_ran():
    Path("ran.txt").write_text("ran")
    print("THE-CHANGE-RAN")
'''


def _path_without_bwrap(tmp_path: Path) -> str:
    """A PATH with the tools the worker needs (git, sh, cp) but no bwrap."""
    tools = tmp_path / "bin-without-bwrap"
    tools.mkdir()
    for name in ("git", "sh", "cp", "tar"):
        for folder in ("/usr/bin", "/bin"):
            if Path(folder, name).exists():
                os.symlink(Path(folder, name), tools / name)
                break
    import sys

    return f"{Path(sys.executable).parent}:{tools}"


def _wait(env: dict, change_id: str, *statuses: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        shown = titan(env, "ops", "show", change_id, "--json")
        assert shown.returncode == 0, shown.stderr
        data = json.loads(shown.stdout)
        if data["status"] in statuses:
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"change stuck in {data['status']}: {data['reason']}")
        time.sleep(0.3)


def _propose(env: dict, tmp_path: Path) -> str:
    local = tmp_path / "test_ran.py"
    local.write_text(MARKER_TEST)
    proposed = titan(env, "ops", "propose", "--title", "Add a test", "--patch",
                     f"tests/test_ran.py={local}", "--json")
    assert proposed.returncode == 0, proposed.stderr
    return str(json.loads(proposed.stdout)["id"])


@pytest.mark.parametrize("how", ["no bwrap on PATH", "TITAN_SANDBOX=approve-first"])
def test_change_waits_says_why_and_runs_after_a_person_approves(
        ops_env: dict, tmp_path: Path, how: str) -> None:  # noqa: F811
    env = {**ops_env, "OPS_TEST_COMMAND": "python -m pytest -q -s -p no:cacheprovider tests"}
    if how == "no bwrap on PATH":
        env["PATH"] = _path_without_bwrap(tmp_path)
        env["TITAN_SANDBOX"] = "auto"
        why = "bubblewrap (bwrap) is not on PATH"
    else:
        env["TITAN_SANDBOX"] = "approve-first"
        why = "TITAN_SANDBOX=approve-first"
    change_id = _propose(env, tmp_path)
    worker = spawn_worker(env, "--concurrency", "1")
    try:
        waiting = _wait(env, change_id, "awaiting_run_approval", "awaiting_approval",
                        "rolled_back", "failed")
        assert waiting["status"] == "awaiting_run_approval", waiting["reason"]
        assert why in waiting["reason"]
        assert waiting["testSummary"] is None  # nothing ran
        listed = titan(env, "ops", "list", "--status", "awaiting_run_approval")
        assert listed.returncode == 0 and why in listed.stdout
        shown = titan(env, "ops", "show", change_id)
        assert "awaiting_run_approval" in shown.stdout and why in shown.stdout
        with ApiServer(reload_settings()) as api:
            answer = httpx.get(f"{api.url}/api/ops/changes/{change_id}", trust_env=False,
                               headers={"X-OPS-TOKEN": env["OPS_TOKEN"],
                                        "Authorization": f"Bearer {env['OPS_TOKEN']}"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "awaiting_run_approval"
        assert why in answer.json()["reason"]

        approved = titan(env, "ops", "approve-run", change_id)
        assert approved.returncode == 0, approved.stderr
        again = titan(env, "ops", "approve-run", change_id)
        assert again.returncode != 0 and "not waiting" in again.stderr
        done = _wait(env, change_id, "awaiting_approval", "rolled_back", "failed")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert done["status"] == "awaiting_approval", done["reason"]
    assert done["testPassed"] is True and "2 passed" in done["testSummary"]
    output = Path(next(a["path"] for a in done["artifacts"]
                       if a["name"] == "test-output")).read_text()
    assert "without a sandbox (approved by" in output and "THE-CHANGE-RAN" in output


def test_bwrap_required_but_missing_runs_nothing(ops_env: dict, tmp_path: Path  # noqa: F811
                                                 ) -> None:
    env = {**ops_env, "PATH": _path_without_bwrap(tmp_path), "TITAN_SANDBOX": "bwrap"}
    change_id = _propose(env, tmp_path)
    worker = spawn_worker(env, "--concurrency", "1")
    try:
        done = _wait(env, change_id, "rolled_back", "failed", "awaiting_approval")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert done["status"] == "rolled_back"
    assert "TITAN_SANDBOX=bwrap but bubblewrap (bwrap) is not on PATH" in done["reason"]
    assert done["testSummary"] is None
