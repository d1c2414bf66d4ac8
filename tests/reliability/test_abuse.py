"""Abuse: a flood of concurrent requests against the real ``titan api`` process, and secrets
that must never reach a log line, the log table or an API answer."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import ROOT, spawn_worker, titan
from tests.helpers import wait_until, wait_until_blocking
from worker.db.engine import Database
from worker.ops.canary import free_port

pytestmark = pytest.mark.slow  # the fault suite: left out by -m "not slow"

SECRETS = {
    "OPS_TOKEN": "ops-secret-7f3a9c2e51",
    "GITHUB_TOKEN": "ghp_secretTokenValue1234567890",
    "TITAN_API_TOKEN": "api-secret-d41d8cd98f",
    "RENDER_DEPLOY_HOOK_API": "https://api.render.com/deploy/srv-abc?key=renderSecret99",
    "STRIPE_API_KEY": "sk_test_secretStripeKey42",
}


def _start_api(env: dict, log: Path) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    with log.open("w") as out:  # a file, not a pipe: nobody reads it until the end
        proc = subprocess.Popen([sys.executable, "-m", "titan_desktop.launcher", "api",
                                 "--port", str(port)], env=env, cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(url + "/health", trust_env=False, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until_blocking(healthy, 180, "titan api", interval=0.1)  # slow imports under load
    except AssertionError:
        proc.kill()
        raise AssertionError("titan api did not start: " + log.read_text()[-2000:]) from None
    return proc, url


@pytest.mark.timeout(1200)  # hang guard for a loaded 2-core machine; the flood itself is untimed
async def test_1000_concurrent_requests_and_no_secret_leaks(titan_env: dict, db: Database,
                                                            tmp_path: Path) -> None:
    repo = tmp_path / "repo"  # the ops loop edits this tiny repository, not Titan's checkout
    repo.mkdir()
    (repo / "README.md").write_text("# demo\n")
    for args in (["init", "-q", "-b", "main"], ["add", "."],
                 ["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    patch = tmp_path / "readme.txt"
    patch.write_text("# demo\n\nchanged\n")
    env = {**titan_env, **SECRETS, "OPS_REPO_PATH": str(repo), "OPS_TEST_COMMAND": "true"}
    api_log = tmp_path / "api.log"
    api, url = _start_api(env, api_log)
    answers: list[tuple[int, str]] = []
    try:
        # 1000 requests share 100 connections, so most wait in the client's own queue; how long
        # they wait there depends only on the machine's speed (no pool timeout). Each request,
        # once sent, must still be answered within 60 s.
        async with httpx.AsyncClient(base_url=url, trust_env=False,
                                     timeout=httpx.Timeout(60, pool=None),
                                     limits=httpx.Limits(max_connections=100,
                                                         max_keepalive_connections=0)) as client:
            bearer = {"Authorization": f"Bearer {SECRETS['TITAN_API_TOKEN']}"}

            async def one(i: int) -> None:
                kind = i % 5
                if kind == 0:
                    r = await client.get("/health")
                elif kind == 1:
                    r = await client.get("/api/projects", params={"limit": 5}, headers=bearer)
                elif kind == 2:  # invalid body
                    r = await client.post("/api/projects", json={"name": ""}, headers=bearer)
                elif kind == 3:  # wrong token
                    r = await client.post("/api/ops/propose", headers={"X-OPS-TOKEN": "wrong"},
                                          json={"title": "x", "patches": []})
                elif i % 50 == 4:
                    r = await client.post("/api/projects", headers=bearer,
                                          json={"name": f"Flood {i}",
                                                "templateRef": "persona/basic"})
                else:
                    r = await client.get(f"/api/projects/{i}", headers=bearer)
                answers.append((r.status_code, r.text))

            await asyncio.gather(*(one(i) for i in range(1000)))
    finally:
        api.terminate()
        api.wait(timeout=30)
        api_output = api_log.read_text()

    statuses = sorted({status for status, _ in answers})
    assert len(answers) == 1000
    assert all(status < 500 for status, _ in answers), statuses
    assert {200, 201, 403, 404, 422} <= set(statuses)
    async with db.session() as s:
        created = (await s.execute(text("SELECT count(*) FROM projects"))).scalar()
    assert created == 20  # every valid create landed exactly once

    # A worker with the secrets configured logs a full pipeline and a failing ops change.
    worker = spawn_worker(env, "--concurrency", "4")
    proposed = titan(env, "ops", "propose", "--title", "leak check", "--patch",
                     f"README.md={patch}")
    assert proposed.returncode == 0, proposed.stderr
    async def published_and_change() -> tuple[object, object]:
        async with db.session() as s:
            published = (await s.execute(text(
                "SELECT count(*) FROM projects WHERE status = 'published'"))).scalar()
            return published, (await s.execute(text("SELECT status FROM ops_changes"))).scalar()

    await wait_until(published_and_change, 600,  # generous for a loaded 2-core machine
                     "every project published and the change waiting for a person",
                     done=lambda v: v[0] == 20 and v[1] in ("awaiting_approval", "rolled_back",
                                                             "failed"), interval=0.5)
    worker.terminate()
    worker_output = worker.communicate(timeout=60)[0]
    async with db.session() as s:
        logged = (await s.execute(text(
            "SELECT string_agg(message || ' ' || extra::text, ' ') FROM log_entries"))).scalar()
    for name, secret in SECRETS.items():
        for where, content in (("API answers", " ".join(body for _, body in answers)),
                               ("API output", api_output), ("worker output", worker_output),
                               ("log table", logged or ""),
                               ("CLI output", proposed.stdout + proposed.stderr)):
            assert secret not in content, f"{name} leaked into the {where}"
