"""The whole ops loop against a real temporary git repository, a real worker and the real API.

diff -> patch -> test (the tiny repo's own pytest, in a worktree) -> "PR" (branch + diff) ->
approval through the REST API -> canary (the patched tree's server on a loopback port) ->
promote (a merge into main), or rollback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.api.server import ApiServer
from tests.helpers import wait_until
from tests.ops.conftest import APPROVER_TOKEN, TOKEN, git
from worker.config import reload_settings
from worker.db.engine import Database
from worker.db.models import OpsChange
from worker.handlers import default_registry
from worker.runner import Worker

README = "# Tiny\n\n## Deployment\n\nRun serve.py.\n"


@pytest.fixture
async def running(ops_env: dict, db: Database) -> AsyncIterator[tuple[ApiServer, Database]]:
    """A worker in this process and the API in a thread, both on this test's database."""
    async with worker_and_api(db, concurrency=2) as api:
        yield api, db


@contextlib.asynccontextmanager
async def worker_and_api(db: Database, *, concurrency: int) -> AsyncIterator[ApiServer]:
    """A real Worker in this process and the API in a thread, on the current settings."""
    settings = reload_settings()
    worker = Worker(db, settings, default_registry(), concurrency=concurrency)
    task = asyncio.create_task(worker.run())
    with ApiServer(settings) as api:
        try:
            yield api
        finally:
            worker.request_stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 30)


async def _call(api: ApiServer, method: str, path: str, **kwargs: object) -> httpx.Response:
    # OPS_TOKEN proposes; deciding takes the other credential.
    token = APPROVER_TOKEN if path.endswith(("/approve", "/reject")) else TOKEN
    async with httpx.AsyncClient(base_url=api.url, trust_env=False, timeout=30,
                                 headers={"Content-Type": "application/json"}) as client:
        return await client.request(method, path, headers={"X-OPS-TOKEN": token}, **kwargs)


async def _wait_for(db: Database, change_id: int, *statuses: str, timeout: float = 90
                    ) -> OpsChange:
    async def change() -> tuple[str, str | None, OpsChange]:  # status and reason show on failure
        async with db.session() as session:
            found = await session.get(OpsChange, change_id)
        assert found is not None
        return found.status, found.reason, found

    status_reason_change = await wait_until(change, timeout, f"change {change_id} in {statuses}",
                                            done=lambda v: v[0] in statuses, interval=0.1)
    return status_reason_change[2]


async def _propose(api: ApiServer, path: str, content: str, title: str = "A change") -> int:
    response = await _call(api, "POST", "/api/ops/propose", json={
        "title": title, "description": "from the loop test",
        "patches": [{"path": path, "content": content}]})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def test_good_change_is_promoted_onto_main(running: tuple, tiny_repo: Path) -> None:
    api, db = running
    main_before = git(tiny_repo, "rev-parse", "main").strip()
    change_id = await _propose(api, "README.md", README, "Update README")

    change = await _wait_for(db, change_id, "awaiting_approval", "rolled_back", "failed")
    assert change.status == "awaiting_approval", change.reason
    assert change.test_passed is True and "1 passed" in change.test_summary
    assert "+## Deployment" in change.diff and "new file" in change.diff
    assert change.branch == f"titan/ops-{change_id}"
    assert git(tiny_repo, "show", f"{change.branch}:README.md") == README
    assert git(tiny_repo, "rev-parse", "main").strip() == main_before  # nothing merged yet

    shown = (await _call(api, "GET", f"/api/ops/changes/{change_id}")).json()
    report = next(a for a in shown["artifacts"] if a["name"] == "test-output")
    assert "1 passed" in Path(report["path"]).read_text()

    approved = await _call(api, "POST", f"/api/ops/changes/{change_id}/approve",
                           json={"comment": "looks right", "actor": "pm"})
    assert approved.status_code == 200, approved.text

    change = await _wait_for(db, change_id, "promoted", "rolled_back", "failed")
    assert change.status == "promoted", change.reason
    assert git(tiny_repo, "show", "main:README.md") == README
    assert (tiny_repo / "README.md").read_text() == README  # the checkout has it too
    assert change.canary_probes and change.canary_probes[-1]["ok"] is True
    shown = (await _call(api, "GET", f"/api/ops/changes/{change_id}")).json()
    assert [a["decision"] for a in shown["approvals"]] == ["approved"]


async def test_change_that_breaks_the_tests_is_rolled_back(running: tuple, tiny_repo: Path
                                                           ) -> None:
    api, db = running
    main_before = git(tiny_repo, "rev-parse", "main").strip()
    change_id = await _propose(api, "client/config.json", json.dumps({"answer": 41}))

    change = await _wait_for(db, change_id, "rolled_back", "promoted", "failed",
                             "awaiting_approval")
    assert change.status == "rolled_back"
    assert change.reason.startswith("tests failed") and "1 failed" in change.reason
    assert change.test_passed is False
    assert git(tiny_repo, "rev-parse", "main").strip() == main_before
    assert git(tiny_repo, "branch", "--list", "titan/ops-*").strip() == ""
    assert json.loads((tiny_repo / "client" / "config.json").read_text())["answer"] == 42


async def test_failed_canary_rolls_back(running: tuple, tiny_repo: Path) -> None:
    api, db = running
    main_before = git(tiny_repo, "rev-parse", "main").strip()
    change_id = await _propose(api, "client/health.txt", "broken\n")
    await _wait_for(db, change_id, "awaiting_approval")
    assert (await _call(api, "POST", f"/api/ops/changes/{change_id}/approve")).status_code == 200

    change = await _wait_for(db, change_id, "rolled_back", "promoted", "failed")
    assert change.status == "rolled_back"
    assert change.reason.startswith("canary failed")
    assert change.canary_probes and not any(p["ok"] for p in change.canary_probes)
    assert {p.get("status") for p in change.canary_probes} <= {503, None}
    assert git(tiny_repo, "rev-parse", "main").strip() == main_before
    assert git(tiny_repo, "branch", "--list", "titan/ops-*").strip() == ""


async def test_rejected_change_rolls_back(running: tuple, tiny_repo: Path) -> None:
    api, db = running
    main_before = git(tiny_repo, "rev-parse", "main").strip()
    change_id = await _propose(api, "docs/notes.md", "notes\n")
    await _wait_for(db, change_id, "awaiting_approval")
    rejected = await _call(api, "POST", f"/api/ops/changes/{change_id}/reject",
                           json={"comment": "not now", "actor": "pm"})
    assert rejected.status_code == 200, rejected.text
    again = await _call(api, "POST", f"/api/ops/changes/{change_id}/approve")
    assert again.status_code == 409  # a decision is final

    change = await _wait_for(db, change_id, "rolled_back", "promoted", "failed")
    assert change.status == "rolled_back"
    assert change.reason == "rejected by pm: not now"
    assert git(tiny_repo, "rev-parse", "main").strip() == main_before
    assert git(tiny_repo, "branch", "--list", "titan/ops-*").strip() == ""


async def test_change_nobody_decides_on_times_out_and_rolls_back(
        ops_env: dict, db: Database, tiny_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TITAN_APPROVAL_TIMEOUT_SECONDS", "1")
    settings = reload_settings()
    worker = Worker(db, settings, default_registry(), concurrency=2)
    task = asyncio.create_task(worker.run())
    try:
        with ApiServer(settings) as api:
            change_id = await _propose(api, "docs/notes.md", "notes\n")
            change = await _wait_for(db, change_id, "rolled_back", "promoted", "failed")
            shown = (await _call(api, "GET", f"/api/ops/changes/{change_id}")).json()
    finally:
        worker.request_stop()
        await asyncio.wait_for(task, 30)
    assert change.status == "rolled_back"
    assert change.reason.startswith("approval timed out after 1 s")
    assert shown["decidedBy"] == "jason (timeout)"  # the timeout's decision says who made it
    assert [a["decision"] for a in shown["approvals"]] == ["rejected"]
    assert git(tiny_repo, "branch", "--list", "titan/ops-*").strip() == ""


async def test_a_step_that_dies_rolls_the_change_back(running: tuple, tiny_repo: Path) -> None:
    api, db = running
    git_dir = tiny_repo / ".git"
    git_dir.rename(tiny_repo / "git-moved-away")  # ops.diff cannot open the repository
    change_id = await _propose(api, "docs/notes.md", "notes\n")
    change = await _wait_for(db, change_id, "rolled_back", "promoted", "failed")
    assert change.status == "rolled_back"
    assert change.reason.startswith("ops.diff failed:")
    assert "not a git repository" in change.reason
