"""The repair loop end to end: a model's edits, the check in the real sandbox, rounds, budgets.

The "model" is the SCRIPTED OpenAI-compatible server on loopback (tests/ai/scripted.py), because
these cases need a competent model on demand: a draft that fails one test, then a fix; a draft
that tries to write outside the workspace. Everything else is real: the AI client and its ledger
in PostgreSQL, the edits on disk, and pytest running in bubblewrap. The last test runs one round
against the real llama.cpp server with SmolLM2 (its quality is not asserted).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.ai.scripted import Answer, ScriptedAI
from worker import sandbox
from worker.ai import AIClient, Endpoint
from worker.ai.repair import FAILED, PASSED, RepairResult, RepairTask, run_repair, summarize
from worker.config import Settings, reload_settings
from worker.db.engine import Database
from worker.db.models import Project
from worker.services.ai_calls import list_calls
from worker.services.ai_rounds import list_rounds, round_dict

needs_bwrap = pytest.mark.skipif(sandbox.bwrap_problem() is not None,
                                 reason=f"no sandbox here: {sandbox.bwrap_problem()}")

CHECK = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
TESTS = '''\
import os

from calc import add


def test_add():
    assert add(1, 2) == 3


def test_the_check_runs_sandboxed_without_the_database():
    assert os.environ.get("TITAN_SANDBOXED") == "1"
    assert "DATABASE_URL" not in os.environ
'''
WRONG = "def add(a, b):\n    return a - b\n"
TASK = "Write calc.add(a, b), which returns the sum of a and b."
# Titan's own pytest plugins stay out of the project's check (their warnings with them).
QUIET = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


@pytest.fixture
def settings(titan_env: dict, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key in ("TITAN_AI_REPAIR_ROUNDS", "TITAN_SANDBOX"):
        monkeypatch.delenv(key, raising=False)
    return reload_settings()


def edits(*items: dict[str, object], prompt_tokens: int = 100) -> Answer:
    """A scripted answer holding these edits, streamed in pieces as a model would."""
    text = json.dumps({"edits": list(items)})
    return Answer([text[i:i + 40] for i in range(0, len(text), 40)],
                  prompt_tokens=prompt_tokens)


def sent(server: ScriptedAI, index: int) -> str:
    """Everything the index-th request said to the model."""
    return "\n".join(m["content"] for m in server.requests[index].body["messages"])


def client_for(server: ScriptedAI, db: Database, **options: object) -> AIClient:
    return AIClient(Endpoint(server.url, "scripted"), db=db, retry_base_seconds=0.01,
                    **options)  # type: ignore[arg-type]


async def new_project(db: Database) -> int:
    async with db.session() as session:
        project = Project(name="Calc", slug="calc", template_ref="python/cli")
        session.add(project)
        await session.flush()
        return project.id


def workspace(root: Path) -> Path:
    space = root / "workspace"
    space.mkdir(parents=True)
    (space / "test_calc.py").write_text(TESTS)
    return space


def task(space: Path, project_id: int, **options: object) -> RepairTask:
    return RepairTask(space, TASK, CHECK, files=["test_calc.py"], project_id=project_id,
                      check_timeout_seconds=120, env=QUIET,
                      **options)  # type: ignore[arg-type]


@needs_bwrap
async def test_a_failing_draft_is_repaired_in_the_second_round_and_both_rounds_are_kept(
        settings: Settings, db: Database, tmp_path: Path) -> None:
    project_id = await new_project(db)
    space = workspace(tmp_path)
    progress: list[str] = []
    with ScriptedAI() as server:
        server.then(edits({"path": "calc.py", "content": WRONG}),
                    edits({"path": "calc.py", "search": "a - b", "replace": "a + b"}))
        async with client_for(server, db) as ai:
            result = await run_repair(ai, settings, task(space, project_id),
                                      on_progress=progress.append)
    assert (result.status, len(result.rounds)) == (PASSED, 2), result.reason
    assert result.reason == "the check passed in round 2/3: 2 tests passed"
    assert (space / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert "round 1/3: 1 test failing" in progress
    assert "round 2/3: 2 tests passed" in progress
    # The answer was asked for with its JSON Schema.
    schema = server.requests[0].body["response_format"]["json_schema"]
    assert schema["name"] == "EditAnswer"
    # The first request had the task and the files in play; the second the failure.
    first, second = sent(server, 0), sent(server, 1)
    assert TASK in first and "def test_add():" in first
    assert "The check: `python -m pytest -q -p no:cacheprovider` (it must exit 0)." in first
    assert "1 test failing" in second
    assert "assert -1 == 3" in second  # pytest's own output, from the sandboxed run
    assert "pytest_asyncio" not in second  # the check ran with the task's environment
    assert "### calc.py" in second and "return a - b" in second
    # Both rounds are stored, with their diffs, summaries and tokens.
    rounds = await list_rounds(db, project_id=project_id)
    assert [(r.round, r.max_rounds, r.passed, r.check_summary, r.check_exit_code)
            for r in rounds] == [(1, 3, False, "1 test failing", 1),
                                 (2, 3, True, "2 tests passed", 0)]
    assert {r.loop_id for r in rounds} == {result.loop_id}
    assert "--- /dev/null\n+++ b/calc.py\n" in rounds[0].diff
    assert "assert -1 == 3" in rounds[0].check_output
    assert "-    return a - b\n+    return a + b\n" in rounds[1].diff
    calls = await list_calls(db, project_id=project_id)
    assert [c.purpose for c in calls] == ["repair", "repair"]
    ledger = sorted((c.prompt_tokens or 0) + (c.completion_tokens or 0) for c in calls)
    assert sorted(r.tokens for r in rounds) == ledger and ledger[0] > 100
    assert round_dict(rounds[1])["checkSummary"] == "2 tests passed"


@needs_bwrap
async def test_edits_outside_the_workspace_are_refused_and_the_reasons_fed_back(
        settings: Settings, db: Database, tmp_path: Path) -> None:
    project_id = await new_project(db)
    space = workspace(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "notes.txt").write_text("outside secret notes\n")
    (space / "out").symlink_to(outside)
    (space / "notes.txt").symlink_to(outside / "notes.txt")
    right = {"path": "calc.py", "content": "def add(a, b):\n    return a + b\n"}
    around = sorted(p.name for p in tmp_path.iterdir())
    progress: list[str] = []
    with ScriptedAI() as server:
        server.then(edits({"path": "../x", "content": "escaped"},
                          {"path": str(tmp_path / "abs.txt"), "content": "escaped"},
                          {"path": ".git/config", "content": "[core]\n"},
                          {"path": "out/pwned.py", "content": "escaped"},
                          {"path": "notes.txt", "content": "escaped"},
                          right),
                    edits())
        async with client_for(server, db) as ai:
            result = await run_repair(
                ai, settings, RepairTask(space, TASK, CHECK, files=["test_calc.py", "notes.txt"],
                                         project_id=project_id, check_timeout_seconds=120),
                on_progress=progress.append)
    # The refusals cost round 1 although its check passed; round 2 changed nothing and passed.
    assert (result.status, len(result.rounds)) == (PASSED, 2), result.reason
    assert "round 1/3: 2 tests passed, 5 edits refused" in progress
    assert sorted(p.name for p in tmp_path.iterdir()) == around
    assert [p.name for p in outside.iterdir()] == ["notes.txt"]
    assert (outside / "notes.txt").read_text() == "outside secret notes\n"
    assert not (space / ".git").exists() and (space / "notes.txt").is_symlink()
    assert (space / "calc.py").exists()  # the good edit of the same answer went in
    [first_round, second_round] = await list_rounds(db, project_id=project_id)
    assert [r["path"] for r in first_round.refusals] == [
        "../x", str(tmp_path / "abs.txt"), ".git/config", "out/pwned.py", "notes.txt"]
    assert not first_round.passed and second_round.refusals == [] and second_round.passed
    feedback = sent(server, 1)
    for refusal in first_round.refusals:
        assert refusal["reason"] in feedback
    assert "rule traversal" in feedback and "rule absolute" in feedback
    assert "rule git-internal" in feedback and "rule symlink" in feedback
    # A file in play that is a link out of the workspace is never read for the model.
    assert "notes.txt (symlink)" in sent(server, 0)
    assert all("outside secret notes" not in sent(server, i) for i in range(2))


@needs_bwrap
async def test_a_spent_token_budget_stops_the_loop_with_failed_and_the_reason(
        settings: Settings, db: Database, tmp_path: Path) -> None:
    project_id = await new_project(db)
    space = workspace(tmp_path)
    with ScriptedAI() as server:
        server.then(edits({"path": "calc.py", "content": WRONG}, prompt_tokens=500),
                    edits({"path": "calc.py", "search": "a - b", "replace": "a + b"}))
        async with client_for(server, db, max_tokens_per_project=400) as ai:
            result = await run_repair(ai, settings, task(space, project_id))
    assert result.status == FAILED
    assert result.reason.startswith("stopped before round 2/3: the token budget is spent")
    assert "TITAN_AI_MAX_TOKENS_PER_PROJECT" in result.reason
    assert len(server.requests) == 1  # no call was made past the budget
    rounds = sorted(await list_rounds(db, project_id=project_id), key=lambda r: r.round)
    assert [(r.round, r.passed, r.check_summary) for r in rounds] == [
        (1, False, "1 test failing"), (2, False, "stopped: the token budget is spent")]
    assert (space / "calc.py").read_text() == WRONG


@needs_bwrap
async def test_the_round_limit_ends_the_loop_with_failed_and_the_last_summary(
        titan_env: dict, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TITAN_AI_REPAIR_ROUNDS", "2")
    settings = reload_settings()
    project_id = await new_project(db)
    space = workspace(tmp_path)
    with ScriptedAI() as server:
        server.then(edits({"path": "calc.py", "content": WRONG}),
                    edits({"path": "calc.py", "search": "a - b", "replace": "a * b"}),
                    edits({"path": "calc.py", "search": "a * b", "replace": "a + b"}))
        async with client_for(server, db) as ai:
            result = await run_repair(ai, settings, task(space, project_id))
    assert result.status == FAILED
    assert result.reason == ("the round limit is reached: the check still fails after 2 rounds "
                             "(TITAN_AI_REPAIR_ROUNDS=2); last: 1 test failing")
    assert len(server.requests) == 2  # the fix the script still held was never asked for
    rounds = await list_rounds(db, project_id=project_id)
    assert [(r.round, r.max_rounds, r.passed) for r in rounds] == [(1, 2, False), (2, 2, False)]


@needs_bwrap
async def test_a_check_that_hangs_is_killed_and_fails_the_round(
        settings: Settings, db: Database, tmp_path: Path) -> None:
    project_id = await new_project(db)
    space = workspace(tmp_path)
    (space / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    hang = "import time\n\n\ndef test_forever():\n    time.sleep(600)\n"
    with ScriptedAI() as server:
        server.then(edits({"path": "test_hang.py", "content": hang}))
        async with client_for(server, db) as ai:
            result = await run_repair(ai, settings, RepairTask(
                space, TASK, CHECK, project_id=project_id, max_rounds=1,
                check_timeout_seconds=3))
    assert result.status == FAILED
    [only] = result.rounds
    assert (only.exit_code, only.summary) == (124, "timed out after 3s")
    assert result.reason.endswith("after 1 round; last: timed out after 3s")


@needs_bwrap
async def test_an_answer_that_stays_invalid_uses_up_a_round_and_is_answered(
        settings: Settings, db: Database, tmp_path: Path) -> None:
    project_id = await new_project(db)
    space = workspace(tmp_path)
    progress: list[str] = []
    with ScriptedAI() as server:
        server.then(Answer(['{"edits": [{"path": "calc.py"}]}']),  # neither content nor search
                    Answer(["still no JSON"]),  # the client's own repair request
                    edits({"path": "calc.py", "content": "def add(a, b):\n    return a + b\n"}))
        async with client_for(server, db) as ai:
            result = await run_repair(ai, settings, task(space, project_id),
                                      on_progress=progress.append)
    assert (result.status, len(result.rounds)) == (PASSED, 2), result.reason
    assert "round 1/3: no valid answer" in progress
    assert "your answer was not valid, so nothing was changed" in sent(server, 2)
    rounds = await list_rounds(db, project_id=project_id)
    assert [(r.round, r.passed, r.check_exit_code) for r in rounds] == [
        (1, False, None), (2, True, 0)]
    assert rounds[0].diff == ""
    calls = sorted(await list_calls(db, project_id=project_id), key=lambda c: c.id)
    assert [c.purpose for c in calls] == ["repair", "repair (repair)", "repair"]
    assert rounds[0].tokens == sum((c.prompt_tokens or 0) + (c.completion_tokens or 0)
                                   for c in calls[:2])  # both calls of round 1 count


async def test_without_a_sandbox_no_model_is_asked_and_nothing_runs(
        titan_env: dict, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TITAN_SANDBOX", "approve-first")
    settings = reload_settings()
    space = workspace(tmp_path)
    with ScriptedAI() as server:
        server.then(edits({"path": "calc.py", "content": WRONG}))
        async with client_for(server, db) as ai:
            result = await run_repair(ai, settings, task(space, await new_project(db)))
    assert result.status == FAILED
    assert result.reason.startswith("model-written code runs only in the sandbox")
    assert server.requests == [] and result.rounds == []
    assert not (space / "calc.py").exists()


def test_check_summaries() -> None:
    pytest_cmd = ["python", "-m", "pytest", "-q"]
    assert summarize(pytest_cmd, 1, "F.\n2 failed, 3 passed, 1 error in 0.2s\n", False) == \
        "2 tests failing, 1 error"
    assert summarize(pytest_cmd, 0, "...\n=== 3 passed in 0.1s ===\n", False) == \
        "3 tests passed"
    assert summarize(pytest_cmd, 5, "\nno tests ran in 0.01s\n", False) == "no tests ran"
    assert summarize(["make", "build"], 2, "cc main.c\nmain.c:3: error: x\n", False) == \
        "exit 2: main.c:3: error: x"
    assert summarize(["make"], 0, "done\n", False) == "passed"


@needs_bwrap
@pytest.mark.slow
async def test_one_round_with_the_local_model_ends_in_a_terminal_state(
        local_client: AIClient, settings: Settings, db: Database, tmp_path: Path) -> None:
    project_id = await new_project(db)
    area = tmp_path / "area"
    space = workspace(area)
    (space / "calc.py").write_text(WRONG)
    (area / "neighbour.txt").write_text("untouched\n")
    result: RepairResult = await run_repair(local_client, settings, RepairTask(
        space, "Fix calc.add so that it returns a + b.", CHECK, files=["calc.py"],
        project_id=project_id, max_rounds=1, max_tokens=200, check_timeout_seconds=120))
    assert result.status in (PASSED, FAILED) and result.reason
    # The answer got through: the server took the schema's grammar and the round was judged.
    assert len(result.rounds) == 1, result.reason
    # Every file the model wrote is inside the workspace.
    assert sorted(p.name for p in area.iterdir()) == ["neighbour.txt", "workspace"]
    assert (area / "neighbour.txt").read_text() == "untouched\n"
    for path in space.rglob("*"):
        assert os.path.realpath(path).startswith(str(space.resolve()) + os.sep)
    # Every call is in the ledger, and the round's tokens are the ledger's.
    calls = await list_calls(db, project_id=project_id)
    assert calls and sorted(c.id for c in calls) == sorted(local_client.recorded_ids)
    rounds = await list_rounds(db, project_id=project_id)
    assert len(rounds) == len(result.rounds)
    if rounds:
        assert rounds[0].tokens == sum((c.prompt_tokens or 0) + (c.completion_tokens or 0)
                                       for c in calls)
