"""The REST API over real HTTP (uvicorn on loopback) on a real database."""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from tests.api.conftest import APPROVER_TOKEN, TOKEN
from tests.api.server import ApiServer
from tests.conftest import ROOT
from tests.helpers import wait_until_blocking
from worker.config import reload_settings
from worker.db.engine import Database

CURL_PROJECT = """curl -X POST http://localhost:3000/api/projects -H "Content-Type: application/json" -d '{"name": "My Web App", "type": "web-app", "templateRef": "persona/basic", "spec": {"description": "A modern web application", "features": ["authentication", "dashboard", "api"]}}'"""  # noqa: E501
CURL_PROPOSE = """curl -X POST http://localhost:3000/api/ops/propose -H "Content-Type: application/json" -H "X-OPS-TOKEN: your-ops-token" -d '{"title": "Update README", "description": "Add deployment instructions", "patches": [{"path": "README.md", "content": "# My Project\\n\\n## Deployment\\n\\n..."}]}'"""  # noqa: E501
BODY = {"name": "My Web App", "type": "web-app", "templateRef": "persona/basic",
        "spec": {"description": "A modern web application",
                 "features": ["authentication", "dashboard", "api"]}}
PROPOSAL = {"title": "Update README", "description": "Add deployment instructions",
            "patches": [{"path": "README.md", "content": "# My Project\n\n## Deployment\n"}]}


@pytest.fixture
def client(api: ApiServer) -> Iterator[httpx.Client]:
    # Requests that change something must say they send JSON, even without a body.
    with httpx.Client(base_url=api.url, trust_env=False, timeout=30,
                      headers={"Content-Type": "application/json"}) as http:
        yield http


def ops(client: httpx.Client, method: str, path: str, *, token: str = TOKEN,
        **kwargs: object) -> httpx.Response:
    return client.request(method, path, headers={"X-OPS-TOKEN": token}, **kwargs)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/health", trust_env=False, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_original_specs_curl_requests_work_against_titan_api(titan_env: dict) -> None:
    """`titan api` on port 3000, then the two curl commands exactly as the spec writes them."""
    # another test run may hold it for a moment
    wait_until_blocking(lambda: _port_free(3000), 30, "port 3000 to be free", interval=0.5)
    env = {**titan_env, "OPS_TOKEN": "your-ops-token"}
    server = subprocess.Popen([sys.executable, "-m", "titan_desktop.launcher", "api"], env=env,
                              cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until_blocking(lambda: _healthy("http://127.0.0.1:3000"), 60, "titan api",
                            interval=0.2, give_up=lambda: None if server.poll() is None
                            else f"it exited: {server.stdout.read()}")
        created = subprocess.run([*shlex.split(CURL_PROJECT), "-s", "-w", "\n%{http_code}"],
                                 capture_output=True, text=True, timeout=30)
        body, status = created.stdout.rsplit("\n", 1)
        assert status == "201", body
        project = json.loads(body)
        assert project["slug"] == "my-web-app" and project["status"] == "queued"
        assert project["spec"]["features"] == ["authentication", "dashboard", "api"]

        proposed = subprocess.run([*shlex.split(CURL_PROPOSE), "-s", "-w", "\n%{http_code}"],
                                  capture_output=True, text=True, timeout=30)
        body, status = proposed.stdout.rsplit("\n", 1)
        assert status == "201", body
        change = json.loads(body)
        assert change["status"] == "proposed" and change["paths"] == ["README.md"]
        assert change["patches"][0]["content"] == "# My Project\n\n## Deployment\n\n..."
    finally:
        server.terminate()
        server.wait(15)


def test_health_reports_version_database_workers_and_queue(client: httpx.Client) -> None:
    client.post("/api/projects", json=BODY)
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["version"]
    assert health["database"] == {"reachable": True}
    assert health["uptimeSeconds"] >= 0
    assert health["queue"] == {"queued": 1}
    assert health["workers"] == []


async def test_health_lists_live_workers_with_heartbeat_age(client: httpx.Client, db: Database
                                                            ) -> None:
    async with db.session() as session:
        await session.execute(text(
            "INSERT INTO workers (id, host, pid, version, last_heartbeat) "
            "VALUES ('w-1', 'box', 42, '0.1.0', now() - interval '7 seconds')"))
    (worker,) = client.get("/health").json()["workers"]
    assert worker["id"] == "w-1" and worker["status"] == "running"
    assert 6 <= worker["lastHeartbeatAgeSeconds"] < 120


def test_metrics_are_prometheus_text(client: httpx.Client) -> None:
    client.post("/api/projects", json=BODY)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'titan_jobs{kind="scaffold",status="queued"} 1.0' in response.text
    assert 'titan_queue_depth{status="queued"} 1.0' in response.text
    for name in ("titan_job_duration_seconds", "titan_worker_last_heartbeat_age_seconds"):
        assert f"# TYPE {name}" in response.text


def test_openapi_document_is_served(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/projects", "/api/projects/{project_id}", "/api/ops/propose",
                 "/api/ops/changes", "/api/ops/changes/{change_id}/approve", "/health"):
        assert path in paths


def test_project_crud(client: httpx.Client) -> None:
    created = client.post("/api/projects", json=BODY)
    assert created.status_code == 201
    project_id = created.json()["id"]
    other = client.post("/api/projects", json={"name": "Other One"}).json()

    listing = client.get("/api/projects", params={"limit": 1}).json()
    assert listing["total"] == 2 and [p["id"] for p in listing["items"]] == [other["id"]]
    page2 = client.get("/api/projects", params={"limit": 1, "offset": 1}).json()
    assert [p["id"] for p in page2["items"]] == [project_id]
    assert client.get("/api/projects", params={"status": "published"}).json()["total"] == 0
    assert client.get("/api/projects", params={"status": "queued"}).json()["total"] == 2

    shown = client.get(f"/api/projects/{project_id}").json()
    assert [j["kind"] for j in shown["jobs"]] == ["scaffold"] and shown["artifacts"] == []
    assert shown["jobs"][0]["runs"] == []

    patched = client.patch(f"/api/projects/{project_id}",
                           json={"name": "My Renamed App", "priceMinor": 1900})
    assert patched.status_code == 200
    assert patched.json()["name"] == "My Renamed App" and patched.json()["priceMinor"] == 1900
    assert patched.json()["slug"] == "my-web-app"

    assert client.delete(f"/api/projects/{project_id}").status_code == 204
    assert client.get(f"/api/projects/{project_id}").status_code == 404
    assert client.delete(f"/api/projects/{project_id}").status_code == 404


async def test_retry_requeues_a_failed_project(client: httpx.Client, db: Database) -> None:
    project_id = client.post("/api/projects", json=BODY).json()["id"]
    assert client.post(f"/api/projects/{project_id}/retry").status_code == 409
    async with db.session() as session:
        await session.execute(text("UPDATE jobs SET status = 'dead'"))
        await session.execute(text(
            "UPDATE projects SET status = 'failed', stage = 'build', last_error = 'boom'"))
    retried = client.post(f"/api/projects/{project_id}/retry")
    assert retried.status_code == 202
    assert retried.json()["project"]["status"] == "queued"
    jobs = client.get(f"/api/projects/{project_id}").json()["jobs"]
    assert [(j["kind"], j["status"]) for j in jobs] == [("scaffold", "dead"), ("build", "queued")]


def test_deciding_a_project_that_is_not_waiting_is_a_conflict(client: httpx.Client) -> None:
    project_id = client.post("/api/projects", json=BODY).json()["id"]
    assert client.post(f"/api/projects/{project_id}/approve").status_code == 409
    assert client.post(f"/api/projects/{project_id}/reject",
                       json={"comment": "no"}).status_code == 409


# Each table runs in one test: every test costs a fresh database.
INVALID_PROJECTS = [
    ({}, "name"),
    ({"name": ""}, "name"),
    ({"name": "!!!"}, "name"),
    ({"name": 5}, "name"),
    ({"name": "X", "templateRef": "no/such-template"}, "templateRef"),
    ({"name": "X", "spec": "not an object"}, "spec"),
    ({"name": "X", "surprise": 1}, "surprise"),
    ({"name": "X", "currency": "usd"}, "currency"),
    ({"name": "X\u0000Y"}, "name"),
    ({"name": "X", "spec": {"description": "a\u0000b"}}, "spec.description"),
]


def test_invalid_project_bodies_get_422_naming_the_field(client: httpx.Client) -> None:
    for body, field in INVALID_PROJECTS:
        response = client.post("/api/projects", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"] == field, body
    assert client.get("/api/projects").json()["total"] == 0  # nothing written


def test_malformed_json_gets_422(client: httpx.Client) -> None:
    response = client.post("/api/projects", content=b'{"name": ',
                           headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["field"] == "body"


def test_invalid_patch_gets_422_naming_the_field(client: httpx.Client) -> None:
    project_id = client.post("/api/projects", json=BODY).json()["id"]
    for body, field in (({"name": None}, "name"), ({"slug": "x"}, "slug"),
                        ({"approvalTimeoutSeconds": 5}, "approvalTimeoutSeconds")):
        response = client.patch(f"/api/projects/{project_id}", json=body)
        assert response.status_code == 422 and response.json()["field"] == field


def test_duplicate_slug_is_409(client: httpx.Client) -> None:
    assert client.post("/api/projects", json=BODY).status_code == 201
    again = client.post("/api/projects", json={**BODY, "name": "my web app!"})
    assert again.status_code == 409 and "my-web-app" in again.json()["detail"]


def test_bodies_over_one_mebibyte_get_413(client: httpx.Client) -> None:
    big = {"name": "Big", "spec": {"description": "x" * (1024 * 1024)}}
    assert client.post("/api/projects", json=big).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts streamed bytes
        yield b'{"name": "Big", "spec": {"description": "'
        for _ in range(12):
            yield b"x" * 100_000
        yield b'"}}'

    streamed = client.post("/api/projects", content=chunks(),
                           headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert client.get("/api/projects").json()["total"] == 0
    assert ops(client, "POST", "/api/ops/propose", json={
        "title": "big", "patches": [{"path": "README.md", "content": "x" * 1_100_000}]
    }).status_code == 413


# -- ops ---------------------------------------------------------------------------------------

def test_ops_token_is_required(client: httpx.Client) -> None:
    for headers, status in (({}, 401), ({"X-OPS-TOKEN": ""}, 401),
                            ({"X-OPS-TOKEN": "wrong"}, 403), ({"X-OPS-TOKEN": TOKEN + "x"}, 403),
                            ({"X-OPS-TOKEN": TOKEN[:-1]}, 403)):
        response = client.post("/api/ops/propose", json=PROPOSAL, headers=headers)
        assert response.status_code == status, (headers, response.text)
        assert client.get("/api/ops/changes", headers=headers).status_code == status
        assert client.post("/api/ops/changes/1/reject", headers=headers).status_code == status
    assert ops(client, "GET", "/api/ops/changes").json()["total"] == 0  # nothing written
    # Header names are case-insensitive in HTTP.
    assert client.post("/api/ops/propose", json=PROPOSAL,
                       headers={"x-ops-token": TOKEN}).status_code == 201


def test_ops_endpoints_answer_503_when_no_token_is_configured(titan_env: dict) -> None:
    with ApiServer(reload_settings()) as server, httpx.Client(
            base_url=server.url, trust_env=False,
            headers={"Content-Type": "application/json"}) as http:
        for headers in ({}, {"X-OPS-TOKEN": ""}, {"X-OPS-TOKEN": "anything"}):
            assert http.post("/api/ops/propose", json=PROPOSAL,
                             headers=headers).status_code == 503
            assert http.get("/api/ops/changes", headers=headers).status_code == 503
            assert http.post("/api/ops/changes/1/approve", headers=headers).status_code == 503


def test_propose_list_show_and_decisions(client: httpx.Client) -> None:
    created = ops(client, "POST", "/api/ops/propose", json=PROPOSAL)
    assert created.status_code == 201
    change_id = created.json()["id"]
    listing = ops(client, "GET", "/api/ops/changes").json()
    assert listing["total"] == 1 and listing["items"][0]["title"] == "Update README"
    assert ops(client, "GET", "/api/ops/changes", params={"status": "promoted"}
               ).json()["total"] == 0
    shown = ops(client, "GET", f"/api/ops/changes/{change_id}").json()
    assert [j["kind"] for j in shown["jobs"]] == ["ops.diff"]
    assert shown["approvals"] == [] and shown["status"] == "proposed"
    assert shown["proposedBy"] == "api:ops-token" and shown["decidedBy"] is None
    # Not at the approval gate yet: deciding now is a conflict.
    for verb in ("approve", "reject"):
        response = ops(client, "POST", f"/api/ops/changes/{change_id}/{verb}",
                       token=APPROVER_TOKEN)
        assert response.status_code == 409, response.text
    assert ops(client, "GET", "/api/ops/changes/999").status_code == 404
    assert ops(client, "POST", "/api/ops/changes/999/approve",
               token=APPROVER_TOKEN).status_code == 404


def test_propose_rejects_bad_paths_with_422_naming_path_and_rule(client: httpx.Client) -> None:
    for path, rule in (("migrations/versions/0002.py", "protected"),
                       ("Infra/main.tf", "protected"), ("../outside.txt", "traversal"),
                       ("/etc/passwd", "absolute"), ("setup.cfg", "not-allowed"),
                       ("worker\\x.py", "backslash")):
        body = {"title": "Sneaky", "patches": [
            {"path": "README.md", "content": "fine"}, {"path": path, "content": "evil"}]}
        response = ops(client, "POST", "/api/ops/propose", json=body)
        assert response.status_code == 422, path
        assert response.json()["field"] == "patches[1].path"
        message = response.json()["message"]
        assert repr(path) in message and f"rule {rule}" in message
    assert ops(client, "GET", "/api/ops/changes").json()["total"] == 0


INVALID_PROPOSALS = [
    ({"patches": [{"path": "README.md", "content": "x"}]}, "title"),
    ({"title": "T", "patches": []}, "patches"),
    ({"title": "T", "patches": [{"path": "README.md"}]}, "patches[0].content"),
    ({"title": "T", "patches": [{"path": "README.md", "content": "a\u0000"}]},
     "patches[0].content"),
]


def test_invalid_proposals_get_422_naming_the_field(client: httpx.Client) -> None:
    for body, field in INVALID_PROPOSALS:
        response = ops(client, "POST", "/api/ops/propose", json=body)
        assert response.status_code == 422, body
        assert response.json()["field"] == field, body
    assert ops(client, "GET", "/api/ops/changes").json()["total"] == 0
