"""The ops loop with the configured backends: GitHub through PyGithub and Render deploy hooks.

GitHub and Render cannot be reached from a test, so both are a small loopback HTTP server
(tests/ops/fakes.py) implementing the documented REST endpoints PyGithub calls (Git Data API
blobs/trees/commits/refs, pulls, merge) and Render's deploy hook plus the deployed service's
health URL. Tests still run for real: the tiny repo's pytest in a local worktree.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.api.server import ApiServer
from tests.ops.fakes import FakeGitHub
from tests.ops.test_loop import README, _call, _propose, _wait_for, worker_and_api
from worker.config import reload_settings
from worker.db.engine import Database


@pytest.fixture
def fake(tiny_repo: Path) -> Iterator[FakeGitHub]:
    files = {str(p.relative_to(tiny_repo)): p.read_text() for p in tiny_repo.rglob("*")
             if p.is_file() and ".git" not in p.parts}
    with FakeGitHub("titan/titan", files) as server:
        yield server


@pytest.fixture
async def running(ops_env: dict, fake: FakeGitHub, db: Database,
                  monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[ApiServer, Database]]:
    for key, value in {
        "GITHUB_REPO": "titan/titan", "GITHUB_TOKEN": "gh-test-token",
        "GITHUB_API_URL": fake.url,
        "RENDER_DEPLOY_HOOK_API": f"{fake.url}/deploy/srv-api?key=k1",
        "RENDER_DEPLOY_HOOK_WORKER": f"{fake.url}/deploy/srv-worker?key=k2",
        "OPS_CANARY_HEALTH_URL": f"{fake.url}/health",
    }.items():
        monkeypatch.setenv(key, value)
    reload_settings()
    async with worker_and_api(db, concurrency=3) as api:
        yield api, db


async def test_github_pull_request_is_merged_after_a_healthy_render_canary(
        running: tuple, fake: FakeGitHub) -> None:
    api, db = running
    change_id = await _propose(api, "README.md", README, "Update README")
    change = await _wait_for(db, change_id, "awaiting_approval", "rolled_back", "failed")
    assert change.status == "awaiting_approval", change.reason
    assert change.backend == "github" and change.pr_number == 1
    assert change.pr_url.endswith("/titan/titan/pull/1")
    pull = fake.pulls[1]
    assert pull["head"] == f"titan/ops-{change_id}" and pull["base"] == "main"
    assert "+## Deployment" in pull["body"] and "1 passed" in pull["body"]
    assert fake.files_at(f"heads/titan/ops-{change_id}")["README.md"] == README
    assert "README.md" not in fake.files_at("heads/main")

    assert (await _call(api, "POST", f"/api/ops/changes/{change_id}/approve")).status_code == 200
    change = await _wait_for(db, change_id, "promoted", "rolled_back", "failed")
    assert change.status == "promoted", change.reason
    assert [(d["service"], d["ref"], d["key"]) for d in fake.deploys] == [
        ("srv-api", change.head_sha, "k1"), ("srv-worker", change.head_sha, "k2")]
    assert change.canary_url == f"{fake.url}/health" and change.canary_probes[-1]["ok"]
    assert fake.pulls[1]["merged"] is True
    assert fake.files_at("heads/main")["README.md"] == README


async def test_unhealthy_canary_and_rejection_close_the_pull_requests(
        running: tuple, fake: FakeGitHub) -> None:
    api, db = running
    main_before = fake.refs["heads/main"]
    broken = await _propose(api, "client/health.txt", "broken\n", "Break health")
    unwanted = await _propose(api, "docs/notes.md", "notes\n", "Unwanted notes")
    for change_id in (broken, unwanted):
        await _wait_for(db, broken, "awaiting_approval")
        await _wait_for(db, change_id, "awaiting_approval")
    assert (await _call(api, "POST", f"/api/ops/changes/{broken}/approve")).status_code == 200
    assert (await _call(api, "POST", f"/api/ops/changes/{unwanted}/reject")).status_code == 200

    failed = await _wait_for(db, broken, "rolled_back", "promoted", "failed")
    rejected = await _wait_for(db, unwanted, "rolled_back", "promoted", "failed")
    assert failed.status == rejected.status == "rolled_back"
    assert failed.reason.startswith("canary failed") and "redeployed" in failed.reason
    assert {p.get("status") for p in failed.canary_probes} == {503}
    # The canary went out, then the previous version was redeployed.
    assert [d["ref"] for d in fake.deploys] == [failed.head_sha] * 2 + [failed.base_sha] * 2
    assert fake.deployed == main_before
    assert rejected.reason == "rejected"
    for change in (failed, rejected):
        assert fake.pulls[change.pr_number]["state"] == "closed"
        assert fake.pulls[change.pr_number]["merged"] is False
        assert f"heads/titan/ops-{change.id}" not in fake.refs
    assert fake.refs["heads/main"] == main_before
