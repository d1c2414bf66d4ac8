"""Issue 17's "done when", as a person runs it: the real ``titan`` CLI in child processes.

``titan project create "Sunflower Bakery" --describe "..." --yes`` with nothing configured
plans with the local model (SmolLM2-135M served by llama.cpp's server, started by the CLI
itself), then ``titan worker --exit-when-idle`` publishes the site, and ``titan ai calls``
shows the planner's calls filed under the project. The plan's quality is not judged, only that
it is the model's (the tree the CLI printed is the tree stored) and that it is valid.

The "Build it? [y/N]" question needs a terminal: those tests run the CLI in a pseudo-terminal
against the SCRIPTED server of tests/ai/scripted.py (real HTTP on loopback, scripted answers).
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time

import httpx
import pytest

from tests.ai.conftest import child_env
from tests.ai.scripted import ScriptedAI
from tests.ai.test_planner import (
    DESCRIPTION,
    expected_tree,
    goals_tree,
    nothing_written,
    plan_answer,
    scripted_env,
)
from tests.conftest import ROOT, titan
from worker.ai.local import local_unavailable_reason

BAKERY = "a website for my bakery with a menu page and opening hours"


@pytest.mark.slow
@pytest.mark.skipif(local_unavailable_reason() is not None,
                    reason=f"the ai-local extra is not installed: {local_unavailable_reason()}")
def test_a_described_bakery_is_planned_by_the_local_model_and_published(
        titan_env: dict) -> None:
    env = child_env(titan_env)  # no AI settings: the CLI starts the local model itself
    created = titan(env, "project", "create", "Sunflower Bakery", "--describe", BAKERY,
                    "--yes", "--json", timeout=900)
    assert created.returncode == 0, created.stderr
    project = json.loads(created.stdout)
    assert project["slug"] == "sunflower-bakery"
    printed_plan = project["plan"]
    goals = [g for f in printed_plan for m in f["children"] for g in m["children"]]
    assert goals and all(g["step"] in ("scaffold", "build", "deploy", "verify", "publish")
                         for g in goals)
    # The template's own plan repeats five fixed steps per page; this one is the model's.
    stored = json.loads(titan(env, "project", "plan", str(project["id"]), "--json").stdout)
    assert goals_tree(stored) == goals_tree(printed_plan)

    worker = titan(env, "worker", "--exit-when-idle", timeout=600)
    assert worker.returncode == 0, worker.stdout[-2000:] + worker.stderr[-2000:]
    shown = json.loads(titan(env, "project", "show", str(project["id"]), "--json").stdout)
    assert shown["status"] == "published", shown.get("lastError")
    page = httpx.get(shown["url"], trust_env=False)
    assert page.status_code == 200 and "Sunflower Bakery" in page.text
    after = json.loads(titan(env, "project", "plan", str(project["id"]), "--json").stdout)
    assert goals_tree(after) == goals_tree(printed_plan)
    assert all(g["done"] for f in after for m in f["children"] for g in m["children"])

    listed = titan(env, "ai", "calls", "--json", "--project", str(project["id"]))
    assert listed.returncode == 0, listed.stderr
    calls = json.loads(listed.stdout)
    assert calls and all(c["purpose"] in ("plan", "plan (repair)") for c in calls)
    assert calls[0]["error"] is None  # the newest call is the one whose plan was built
    for call in calls:
        assert call["projectId"] == project["id"]
        assert call["model"] == "smollm2-135m-instruct"
        assert call["completionTokens"] > 0
    every = json.loads(titan(env, "ai", "calls", "--json").stdout)
    assert [c["id"] for c in every] == [c["id"] for c in calls]


def _answer_in_a_terminal(env: dict, answer: str, *args: str) -> tuple[int, str]:
    """Run ``titan ARGS`` with a pseudo-terminal as stdin/stdout/stderr, answer the question
    ``Build it? [y/N]`` with ``answer`` once it appears; the exit code and everything shown."""
    primary, secondary = pty.openpty()
    child = subprocess.Popen([sys.executable, "-m", "titan_desktop.launcher", *args], env=env,
                             cwd=ROOT, stdin=secondary, stdout=secondary, stderr=secondary,
                             close_fds=True)
    os.close(secondary)
    shown = b""
    answered = False
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.5)
            if ready:
                try:
                    data = os.read(primary, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                shown += data
            if not answered and b"Build it? [y/N]" in shown:
                os.write(primary, answer.encode() + b"\n")
                answered = True
            if not ready and child.poll() is not None:
                break
        code = child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(primary)
    assert answered, shown.decode(errors="replace")
    return code, shown.decode(errors="replace")


def test_answering_no_in_a_terminal_creates_nothing(titan_env: dict) -> None:
    with ScriptedAI() as server:
        server.then(plan_answer())
        env = scripted_env(titan_env, server)
        code, shown = _answer_in_a_terminal(env, "n", "project", "create", "Bakery",
                                            "--describe", DESCRIPTION)
    assert code == 0, shown
    assert "planning with scripted (http://127.0.0.1:" in shown
    assert "template: persona/basic" in shown and "[ ] Publish the site  (publish)" in shown
    assert "not created" in shown
    nothing_written(env)
    calls = json.loads(titan(env, "ai", "calls", "--json").stdout)
    assert [(c["purpose"], c["projectId"]) for c in calls] == [("plan", None)]


def test_answering_yes_in_a_terminal_creates_the_planned_project(titan_env: dict) -> None:
    with ScriptedAI() as server:
        server.then(plan_answer())
        env = scripted_env(titan_env, server)
        code, shown = _answer_in_a_terminal(env, "y", "project", "create", "Bakery",
                                            "--describe", DESCRIPTION)
    assert code == 0, shown
    assert "created project bakery" in shown and "persona/basic" in shown
    [project] = json.loads(titan(env, "project", "list", "--json").stdout)
    assert project["templateRef"] == "persona/basic"
    stored = json.loads(titan(env, "project", "plan", "bakery", "--json").stdout)
    assert goals_tree(stored) == expected_tree()
    calls = json.loads(titan(env, "ai", "calls", "--json").stdout)
    assert [(c["purpose"], c["projectId"]) for c in calls] == [("plan", project["id"])]
