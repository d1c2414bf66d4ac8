"""``/api/workers`` over real HTTP: the list a person sees, and a pause that a real worker
process obeys (it reports itself paused, and resumes, and stops)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.server import ApiServer
from tests.conftest import spawn_worker
from tests.helpers import wait_until_blocking


@pytest.fixture
def client(api: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, trust_env=False, timeout=30,
                      headers={"Content-Type": "application/json"}) as http:
        yield http


def _only_worker(client: httpx.Client) -> dict:
    items = client.get("/api/workers").json()["items"]
    return items[0] if len(items) == 1 else {}


def test_a_real_worker_is_listed_paused_resumed_and_stopped(titan_env: dict,
                                                           client: httpx.Client) -> None:
    assert client.get("/api/workers").json() == {"items": [], "total": 0}
    worker = spawn_worker(titan_env, "--concurrency", "2")
    try:
        shown = wait_until_blocking(lambda: _only_worker(client), 60, "the worker to register")
        assert shown["pid"] == worker.pid
        assert shown["status"] == "running" and shown["version"]
        assert shown["currentJobs"] == [] and shown["processed"] == 0
        assert shown["heartbeatAgeSeconds"] < 30
        worker_id = shown["id"]
        assert client.get(f"/api/workers/{worker_id}").json()["pid"] == worker.pid

        answer = client.post(f"/api/workers/{worker_id}/pause")
        assert answer.status_code == 202, answer.text
        wait_until_blocking(lambda: _only_worker(client).get("status") == "paused", 30,
                            "the worker to report itself paused")
        assert client.post(f"/api/workers/{worker_id}/resume").status_code == 202
        wait_until_blocking(lambda: _only_worker(client).get("status") == "running", 30,
                            "the worker to resume")
        assert client.post(f"/api/workers/{worker_id}/stop").status_code == 202
        assert worker.wait(60) == 0
        assert _only_worker(client)["status"] == "stopped"
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_unknown_workers_and_commands_are_refused(client: httpx.Client) -> None:
    assert client.get("/api/workers/nobody").status_code == 404
    assert client.post("/api/workers/nobody/pause").status_code == 404
    answer = client.post("/api/workers/nobody/explode")
    assert answer.status_code == 422 and "command" in answer.text
    answer = client.get("/api/workers", params={"stoppedWithinSeconds": "-1"})
    assert answer.status_code == 422 and "stoppedWithinSeconds" in answer.text
