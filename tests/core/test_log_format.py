"""Worker logs: readable lines on a terminal, JSON lines for programs (a pipe or a file), and
``--log-format json|text`` to choose. The terminal is a real pseudo-terminal around a real
``titan worker --exit-when-idle`` run."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest
from sqlalchemy import text

from tests.conftest import ROOT
from worker import queue
from worker.db.engine import Database

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR)\s+\S")


async def _queue_a_failing_project_job(db: Database) -> int:
    async with db.session() as session:
        project_id = (await session.execute(text(
            "INSERT INTO projects (name, slug, template_ref) "
            "VALUES ('Log Demo', 'log-demo', 'persona/basic') RETURNING id"))).scalar_one()
        await queue.enqueue(session, queue.NewJob("fail", {"message": "the build broke"},
                                                  project_id=project_id, max_attempts=1))
    return int(project_id)


def _run_on_a_terminal(env: dict, *args: str) -> str:
    """Run ``titan worker --exit-when-idle ARGS`` with stdout and stderr on a pseudo-terminal;
    return what the terminal showed."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "worker.cli", "worker", "--exit-when-idle",
                             *args], env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                            stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    shown = bytearray()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: every writer has closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert proc.wait(30) == 0, shown.decode(errors="replace")
    return shown.decode(errors="replace").replace("\r\n", "\n")


async def test_a_terminal_gets_readable_lines(titan_env: dict, db: Database) -> None:
    project_id = await _queue_a_failing_project_job(db)
    shown = _run_on_a_terminal(titan_env)
    lines = [line for line in shown.splitlines() if line.strip()]
    assert lines, "the worker printed nothing"
    assert not [line for line in lines if line.lstrip().startswith("{")], shown
    assert all(TEXT_LINE.match(line) for line in lines), shown
    failure = next(line for line in lines if "failed for good" in line)
    assert f" ERROR   project {project_id}  job fail failed for good" in failure, failure
    assert "the build broke" in failure


async def test_log_format_json_on_a_terminal(titan_env: dict, db: Database) -> None:
    await _queue_a_failing_project_job(db)
    shown = _run_on_a_terminal(titan_env, "--log-format", "json")
    lines = [json.loads(line) for line in shown.splitlines() if line.strip()]
    assert any(line["level"] == "ERROR" and line.get("project_id") for line in lines)


@pytest.mark.parametrize("args, expect_json", [((), True), (("--log-format", "text"), False)])
async def test_a_pipe_gets_json_unless_text_is_asked_for(titan_env: dict, db: Database,
                                                         args: tuple[str, ...],
                                                         expect_json: bool) -> None:
    await _queue_a_failing_project_job(db)
    done = subprocess.run([sys.executable, "-m", "worker.cli", "worker", "--exit-when-idle",
                           *args], env=titan_env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines
    if expect_json:
        assert all(json.loads(line)["message"] for line in lines)
    else:
        assert all(TEXT_LINE.match(line) for line in lines), done.stdout


def test_an_unknown_log_format_is_a_usage_error(titan_env: dict) -> None:
    done = subprocess.run([sys.executable, "-m", "worker.cli", "worker", "--log-format", "xml"],
                          env=titan_env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1


def test_titan_api_logs_readable_lines_on_a_terminal(titan_env: dict) -> None:
    from worker.ops.canary import free_port

    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "worker.cli", "api", "--port",
                             str(free_port())], env=titan_env, cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=follower, stderr=follower,
                            close_fds=True)
    os.close(follower)
    shown = ""
    try:
        deadline = time.monotonic() + 60
        while "Uvicorn running on" not in shown and time.monotonic() < deadline:
            if select.select([leader], [], [], 1)[0]:
                shown += os.read(leader, 65536).decode(errors="replace")
    finally:
        proc.terminate()
        proc.wait(30)
        os.close(leader)
    started = next(line for line in shown.splitlines() if "Uvicorn running on" in line)
    assert TEXT_LINE.match(started), shown
