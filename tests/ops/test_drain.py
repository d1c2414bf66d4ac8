"""SIGTERM to a real ``titan worker`` while ops.test runs: no process of the test survives it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import spawn_worker, titan
from worker import sandbox


def _processes_with(token: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if token.encode() in cmdline and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.parametrize("mode", ["bwrap", "approve-first"])
def test_sigterm_to_the_worker_ends_the_running_test_process_group(
        ops_env: dict, tmp_path: Path, mode: str) -> None:
    if mode == "bwrap" and sandbox.bwrap_problem():
        pytest.skip(sandbox.bwrap_problem())
    token = f"titan-drain-{uuid.uuid4().hex[:10]}"
    sleeper = f"python3 -c 'import time; time.sleep(600)' {token}"
    env = {**ops_env, "TITAN_SANDBOX": mode,
           # A test run that would outlive the worker, with a child in the background.
           "OPS_TEST_COMMAND": f"sh -c \"{sleeper} & {sleeper}\""}
    patch = tmp_path / "notes.md"
    patch.write_text("notes\n")
    proposed = titan(env, "ops", "propose", "--title", "Slow tests", "--patch",
                     f"docs/notes.md={patch}", "--json")
    assert proposed.returncode == 0, proposed.stderr
    change_id = str(json.loads(proposed.stdout)["id"])
    worker = spawn_worker(env, "--grace", "1", "--concurrency", "1")
    try:
        if mode == "approve-first":
            _wait(lambda: "awaiting_run_approval" in titan(env, "ops", "list").stdout, 60,
                  "the change to wait for a person")
            approved = titan(env, "ops", "approve-run", change_id)
            assert approved.returncode == 0, approved.stderr
        _wait(lambda: len(_processes_with(token)) >= 2, 60, "the test's two processes")
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        try:
            # Killed before the worker exited; the kernel may take a moment to reap them.
            _wait(lambda: not _processes_with(token), 10, "no process of the test to remain")
        finally:
            for pid in _processes_with(token):  # a failed run must not leave them behind
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    assert worker.returncode == 0, worker.log_path.read_text()
