"""Titan changes itself on request: ``titan ops propose --ask`` / ``"ask"`` over the API.

The model is the SCRIPTED OpenAI-compatible server on loopback (tests/ai/scripted.py: it says
so in its docstring; it answers what each test scripts). Everything else is real: the tiny git
repository, a Worker on this test's PostgreSQL, the API in a thread, the sandboxed test run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ai.scripted import Answer, ScriptedAI
from tests.api.server import ApiServer
from tests.conftest import titan
from tests.ops.conftest import TOKEN, git
from tests.ops.test_loop import _call, _wait_for, worker_and_api
from worker.ai.edits import EditAnswer
from worker.ai.repomap import build_map
from worker.config import reload_settings
from worker.db.engine import Database
from worker.db.models import OpsChange
from worker.ops.ask import apply_draft, draft_policy

ASK = "add a --version flag to the tiny server"
README = "# Tiny\n\nserve.py answers /health.\n"
README_TEST = '''\
from pathlib import Path


def test_readme_names_the_server():
    assert "serve.py" in Path("README.md").read_text()
'''


def edits(*items: dict[str, Any], prompt_tokens: int = 500, completion_tokens: int = 40
          ) -> Answer:
    """One scripted answer: the edits as the JSON object the schema asks for."""
    text = json.dumps({"edits": list(items)})
    return Answer([text[:20], text[20:]], prompt_tokens=prompt_tokens,
                  completion_tokens=completion_tokens)


@pytest.fixture
def model(ops_env: dict, monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedAI]:
    with ScriptedAI() as scripted:
        for key, value in {"TITAN_AI_URL": scripted.url, "TITAN_AI_MODEL": "scripted"}.items():
            monkeypatch.setenv(key, value)
            ops_env[key] = value
        reload_settings()
        yield scripted


async def _change(db: Database, change_id: int) -> OpsChange:
    async with db.session() as session:
        change = await session.get(OpsChange, change_id)
    assert change is not None
    return change


async def _count(db: Database) -> int:
    async with db.session() as session:
        from sqlalchemy import func, select
        return int(await session.scalar(select(func.count()).select_from(OpsChange)) or 0)


# -- the whole pipeline --------------------------------------------------------------------------

async def test_ask_drafts_a_change_that_is_tested_and_waits_for_approval(
        model: ScriptedAI, ops_env: dict, db: Database, tiny_repo: Path) -> None:
    model.then(edits({"path": "README.md", "content": README},
                     {"path": "tests/test_readme.py", "content": README_TEST}))
    main_before = git(tiny_repo, "rev-parse", "main").strip()
    proposed = titan(ops_env, "ops", "propose", "--ask", ASK, "--json")
    assert proposed.returncode == 0, proposed.stderr
    created = json.loads(proposed.stdout)
    change_id = created["id"]
    assert created["ask"] == ASK and created["aiModel"] == "scripted"
    assert created["proposedBy"].startswith("ai:scripted for user:")
    assert created["title"] == f"Ask: {ASK}"

    async with worker_and_api(db, concurrency=2) as api:
        change = await _wait_for(db, change_id, "awaiting_approval", "rolled_back", "failed")
        assert change.status == "awaiting_approval", change.reason
        assert change.test_passed is True and "2 passed" in (change.test_summary or "")
        assert change.ai_tokens == 540 and change.ai_drafts == 1
        assert "+serve.py answers /health." in (change.diff or "")
        assert git(tiny_repo, "show", f"{change.branch}:tests/test_readme.py") == README_TEST
        assert git(tiny_repo, "rev-parse", "main").strip() == main_before

        # The model got the request and a map of the repository, ranked for it.
        prompt = model.requests[0].body["messages"][-1]["content"]
        assert ASK in prompt
        assert "tests/test_config.py: def test_the_answer_is_42()" in prompt
        assert "### serve.py" in prompt  # the best match shown in full
        assert len(model.requests) == 1

        shown = (await _call(api, "GET", f"/api/ops/changes/{change_id}")).json()
        assert (shown["ask"], shown["aiModel"], shown["aiTokens"], shown["aiDrafts"]) == \
            (ASK, "scripted", 540, 1)
        assert "ops.draft" in [j["kind"] for j in shown["jobs"]]
        report = next(a for a in shown["artifacts"] if a["name"] == "test-output")
        assert "# in the sandbox" in Path(report["path"]).read_text().splitlines()[0]
        pull = next(a for a in shown["artifacts"] if a["name"] == "pull-request")
        assert "Drafted by scripted on request" in Path(pull["path"]).read_text()
        text = titan(ops_env, "ops", "show", str(change_id)).stdout
        assert f"asked:   {ASK}" in text and "model:   scripted  tokens: 540" in text

        # The same approval gate as a person's patches: OPS_TOKEN cannot approve it.
        async with httpx.AsyncClient(base_url=api.url, trust_env=False) as client:
            self_approved = await client.post(f"/api/ops/changes/{change_id}/approve",
                                              json={}, headers={"X-OPS-TOKEN": TOKEN})
        assert self_approved.status_code == 403
        approved = await _call(api, "POST", f"/api/ops/changes/{change_id}/approve",
                               json={"comment": "read the diff"})
        assert approved.status_code == 200, approved.text
        change = await _wait_for(db, change_id, "promoted", "rolled_back", "failed")
        assert change.status == "promoted", change.reason
        assert git(tiny_repo, "show", "main:README.md") == README


async def test_a_failing_first_draft_gets_one_repair_round_then_passes(
        model: ScriptedAI, ops_env: dict, db: Database, tiny_repo: Path) -> None:
    model.then(
        edits({"path": "client/config.json", "content": '{"answer": 41, "name": "tiny"}\n'}),
        edits({"path": "client/config.json", "search": "41", "replace": "42"},
              prompt_tokens=700, completion_tokens=30))
    async with worker_and_api(db, concurrency=2) as api:
        response = await _call(api, "POST", "/api/ops/propose", json={"ask": "name the app"})
        assert response.status_code == 201, response.text
        change_id = response.json()["id"]
        assert response.json()["proposedBy"] == "ai:scripted for api:ops-token"
        change = await _wait_for(db, change_id, "awaiting_approval", "rolled_back", "failed")
        assert change.status == "awaiting_approval", change.reason
        assert change.ai_drafts == 2 and change.ai_tokens == 540 + 730
        assert change.test_passed is True
        assert json.loads(git(tiny_repo, "show", f"{change.branch}:client/config.json")) == \
            {"answer": 42, "name": "tiny"}
        assert change.patches == [{"path": "client/config.json",
                                   "content": '{"answer": 42, "name": "tiny"}\n'}]
        # The repair request carried the failing test's output and the changed file.
        assert len(model.requests) == 2
        repair = model.requests[1].body["messages"][-1]["content"]
        assert "1 failed" in repair and "assert 41 == 42" in repair
        assert '### client/config.json\n```\n{"answer": 41' in repair


async def test_a_draft_still_failing_after_its_repair_round_is_rolled_back(
        model: ScriptedAI, ops_env: dict, db: Database, tiny_repo: Path) -> None:
    wrong = edits({"path": "client/config.json", "content": '{"answer": 41}\n'})
    model.then(wrong, edits({"path": "client/config.json", "search": "41", "replace": "40"}))
    async with worker_and_api(db, concurrency=2) as api:
        response = await _call(api, "POST", "/api/ops/propose", json={"ask": "change it"})
        change_id = response.json()["id"]
        change = await _wait_for(db, change_id, "rolled_back", "awaiting_approval", "failed")
    assert change.status == "rolled_back"
    assert change.reason and change.reason.startswith(
        "tests failed after the model's repair round")
    assert len(model.requests) == 2 and change.ai_drafts == 2  # one repair round, no more
    assert not git(tiny_repo, "branch", "--list", f"titan/ops-{change_id}").strip()


async def test_a_draft_touching_a_protected_path_is_refused_before_any_write(
        model: ScriptedAI, ops_env: dict, db: Database, tiny_repo: Path) -> None:
    model.then(edits({"path": "README.md", "content": README},
                     {"path": "migrations/versions/0099_evil.py", "content": "DROP = 1\n"}))
    refs_before = git(tiny_repo, "for-each-ref")
    async with worker_and_api(db, concurrency=2) as api:
        response = await _call(api, "POST", "/api/ops/propose", json={"ask": "tidy up"})
        change_id = response.json()["id"]
        change = await _wait_for(db, change_id, "failed", "rolled_back", "awaiting_approval")
    assert change.status == "failed"
    assert change.reason and "refused before anything was written" in change.reason
    assert "'migrations/versions/0099_evil.py'" in change.reason and "protected" in change.reason
    assert change.patches == [] and change.branch is None and change.ai_tokens == 540
    assert git(tiny_repo, "for-each-ref") == refs_before  # no branch, no commit
    assert not (tiny_repo / "migrations").exists()
    assert git(tiny_repo, "status", "--porcelain") == ""


# -- refusals at the door -------------------------------------------------------------------------

def test_ai_off_is_a_clear_error_and_writes_nothing(ops_env: dict, db_url: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TITAN_AI_LOCAL", "false")
    ops_env["TITAN_AI_LOCAL"] = "false"
    done = titan(ops_env, "ops", "propose", "--ask", ASK)
    assert done.returncode == 2
    assert "AI is off" in done.stderr and "TITAN_AI_URL" in done.stderr
    with ApiServer(reload_settings()) as server, httpx.Client(
            base_url=server.url, trust_env=False, headers={"X-OPS-TOKEN": TOKEN}) as http:
        response = http.post("/api/ops/propose", json={"ask": ASK})
        assert response.status_code == 422
        assert response.json()["field"] == "ask" and "AI is off" in response.json()["message"]
        assert http.get("/api/ops/changes").json()["total"] == 0


def test_propose_422s_name_the_field(model: ScriptedAI) -> None:
    patch = [{"path": "README.md", "content": "x"}]
    with ApiServer(reload_settings()) as server, httpx.Client(
            base_url=server.url, trust_env=False, headers={"X-OPS-TOKEN": TOKEN}) as http:
        for body, field, words in (
                ({"title": "T", "patches": patch, "ask": ASK}, "ask", "not both"),
                ({"title": "T"}, "patches", "'ask'"),
                ({"ask": "   "}, "ask", "empty"),
                ({"ask": ""}, "ask", "empty"),
                ({"ask": "x" * 4001}, "ask", "4000"),
                ({"ask": 7}, "ask", "string")):
            response = http.post("/api/ops/propose", json=body)
            assert response.status_code == 422, body
            assert response.json()["field"] == field, (body, response.json())
            assert words in response.json()["message"], (body, response.json())
        assert http.get("/api/ops/changes").json()["total"] == 0
    assert model.requests == []  # nothing was asked of the model either


# -- the pieces -----------------------------------------------------------------------------------

def test_edits_create_modify_delete_and_rename_become_patches(tmp_path: Path,
                                                              ops_env: dict) -> None:
    root = tmp_path / "tree"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "a.md").write_text("alpha\n")
    (root / "docs" / "b.md").write_text("beta\n")
    (root / "docs" / "c.md").write_text("gamma\n")
    answer = EditAnswer.model_validate({"edits": [
        {"path": "docs/a.md", "search": "alpha", "replace": "ALPHA"},
        {"path": "docs/b.md", "delete": True},
        {"path": "docs/c.md", "rename_to": "docs/d.md"},
        {"path": "docs/new.md", "content": "new\n"}]})
    draft = apply_draft(root, answer, draft_policy(reload_settings()))
    assert draft.refusals == []
    assert draft.patches == [
        {"path": "docs/a.md", "content": "ALPHA\n"}, {"path": "docs/b.md", "delete": True},
        {"path": "docs/c.md", "delete": True}, {"path": "docs/d.md", "content": "gamma\n"},
        {"path": "docs/new.md", "content": "new\n"}]

    refused = EditAnswer.model_validate({"edits": [
        {"path": "docs/a.md", "content": "fine"}, {"path": ".env", "content": "KEY=x"},
        {"path": "docs/a.md", "rename_to": "setup.cfg"}]})
    before = (root / "docs" / "a.md").read_text()
    draft = apply_draft(root, refused, draft_policy(reload_settings()))
    assert draft.patches == [] and len(draft.refusals) == 2
    assert "'.env'" in draft.refusals[0] and "'setup.cfg'" in draft.refusals[1]
    assert (root / "docs" / "a.md").read_text() == before  # nothing written at all
    assert not (root / ".env").exists()


def test_the_repository_map_ranks_files_for_the_request(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "worker").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "worker" / "cli.py").write_text(
        "import argparse\n\nVERSION = '1'\n\n\ndef build_parser(prog):\n    ...\n\n\n"
        "def cmd_worker(args, settings):\n    ...\n")
    (root / "worker" / "sales.py").write_text("class Invoice:\n    total = 0\n")
    (root / "docs" / "sales.md").write_text("Invoices.\n")
    (root / "worker" / "broken.py").write_text("def (:\n")
    repo_map = build_map(root, "add a --version flag to titan worker")
    assert [e.path for e in repo_map.top(1)] == ["worker/cli.py"]
    text = repo_map.render()
    assert text.splitlines()[0] == ("worker/cli.py: VERSION, def build_parser(prog), "
                                    "def cmd_worker(args, settings)")
    assert "worker/broken.py" in text and "worker/sales.py: class Invoice" in text
    assert len(repo_map.render(max_chars=40)) <= 80  # bounded: later files are counted, not shown
    assert "more files not listed" in repo_map.render(max_chars=40)
    assert "### worker/cli.py" in repo_map.files_text()
    shown = repo_map.files_text(total_chars=30)
    assert "import argparse\n\nVERSION = '1'" in shown and "def cmd_worker" not in shown
    assert "(cut: " in shown


async def test_an_answer_that_stays_invalid_fails_the_change_with_its_tokens_counted(
        model: ScriptedAI, ops_env: dict, db: Database, tiny_repo: Path) -> None:
    not_edits = Answer(['{"edits": "none"}'], prompt_tokens=300, completion_tokens=5)
    model.then(not_edits, not_edits)  # the draft and the client's one repair request
    refs_before = git(tiny_repo, "for-each-ref")
    async with worker_and_api(db, concurrency=1) as api:
        response = await _call(api, "POST", "/api/ops/propose", json={"ask": "do it"})
        change_id = response.json()["id"]
        change = await _wait_for(db, change_id, "failed", "rolled_back", "awaiting_approval")
    assert change.status == "failed"
    assert change.reason and change.reason.startswith("the model could not draft the change")
    assert "EditAnswer" in change.reason
    assert change.ai_tokens == 610 and change.ai_drafts == 1 and change.patches == []
    assert git(tiny_repo, "for-each-ref") == refs_before


def test_a_deletion_patch_removes_the_file_on_the_branch(tiny_repo: Path) -> None:
    from worker.ops.gitrepo import LocalRepo
    from worker.ops.jobs import unified_diff

    repo = LocalRepo(tiny_repo)
    base = repo.resolve("main")
    repo.commit_files("titan/ops-1", base, {"client/health.txt": None,
                                            "docs/health.md": "ok\n"}, "move health")
    listed = git(tiny_repo, "ls-tree", "-r", "--name-only", "titan/ops-1").split()
    assert "client/health.txt" not in listed and "docs/health.md" in listed
    assert "client/health.txt" in git(tiny_repo, "ls-tree", "-r", "--name-only", "main").split()
    diff = unified_diff("client/health.txt", "ok\n", None)
    assert "deleted file mode" in diff and "+++ /dev/null" in diff and "-ok" in diff
