"""The API locked down, against a real ``titan api`` child process on a free loopback port:
loopback-only without a token; the bearer token on everything that changes something, /metrics
and the detailed /health; the Host check (DNS rebinding); Content-Type and Origin (CSRF)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from tests.api.server import ROOT, TitanApiProcess
from worker.db.engine import Database
from worker.ops.canary import free_port

API_TOKEN = "api-token-5f1c9e77"
OPS_TOKEN = "your-ops-token"  # the original spec's example
APPROVER = "approver-token-0b3d"
JSON = {"Content-Type": "application/json"}
BEARER = {"Authorization": f"Bearer {API_TOKEN}"}
PROJECT = {"name": "Locked App", "templateRef": "persona/basic"}


@pytest.fixture
def env(titan_env: dict) -> dict:
    return {**titan_env, "TITAN_API_TOKEN": API_TOKEN, "OPS_TOKEN": OPS_TOKEN,
            "OPS_APPROVER_TOKEN": APPROVER, "TITAN_API_ALLOWED_HOSTS": ""}


@pytest.fixture
def api(env: dict) -> Iterator[TitanApiProcess]:
    with TitanApiProcess(env) as server:
        yield server


@pytest.fixture
def http(api: TitanApiProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, trust_env=False, timeout=30) as client:
        yield client


async def _count(db: Database, table: str) -> int:
    async with db.session() as session:
        return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar())


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])
def test_refuses_to_bind_beyond_loopback_without_a_token(titan_env: dict, host: str) -> None:
    port = free_port()
    result = subprocess.run([sys.executable, "-m", "worker.cli", "api", "--host", host,
                             "--port", str(port)], env={**titan_env, "TITAN_API_TOKEN": ""},
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "TITAN_API_TOKEN" in lines[0] and host in lines[0], result.stderr


def test_binds_beyond_loopback_with_a_token(env: dict) -> None:
    with TitanApiProcess(env, "--host", "0.0.0.0") as api, \
            httpx.Client(base_url=api.url, trust_env=False, timeout=30) as client:
        assert client.get("/api/projects").status_code == 401
        assert client.get("/api/projects", headers=BEARER).status_code == 200


async def test_everything_that_changes_something_needs_the_bearer_token(
        http: httpx.Client, db: Database) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    changing = [(method.upper(), path.replace("{project_id}", "1").replace("{change_id}", "1"))
                for path, item in paths.items() for method in item
                if method in ("post", "put", "patch", "delete")]
    # Every kind the issue names is there: projects, approvals, ops, sales.
    assert {"/api/projects", "/api/projects/1/approve", "/api/ops/propose",
            "/api/sales/orders"} <= {p for _, p in changing}
    for method, path in [*changing, ("GET", "/metrics"), ("GET", "/api/projects"),
                         ("GET", "/api/sales/summary")]:
        for headers in ({}, {"Authorization": "Bearer wrong"},
                        {"Authorization": f"Basic {API_TOKEN}"}):
            response = http.request(method, path, headers={**JSON, **headers}, json={})
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
    assert await _count(db, "projects") == await _count(db, "orders") == 0  # nothing written
    created = http.post("/api/projects", json=PROJECT, headers=BEARER)
    assert created.status_code == 201, created.text
    assert http.get("/metrics", headers=BEARER).status_code == 200


def test_health_without_the_token_only_says_alive(http: httpx.Client) -> None:
    assert http.get("/health").json() == {"status": "ok"}
    detailed = http.get("/health", headers=BEARER).json()
    assert detailed["status"] == "ok" and detailed["database"] == {"reachable": True}
    assert "version" in detailed and "queue" in detailed


def test_the_specs_curl_requests_work_with_the_tokens_set(api: TitanApiProcess) -> None:
    """The spec's ops request works as written (X-OPS-TOKEN is a credential of its own); its
    project request needs the bearer header once TITAN_API_TOKEN is set."""
    from tests.api.test_api import CURL_PROJECT, CURL_PROPOSE

    def curl(command: str, *extra: str) -> tuple[str, str]:
        command = command.replace("http://localhost:3000", f"http://localhost:{api.port}")
        done = subprocess.run([*shlex.split(command), *extra, "-s", "-w", "\n%{http_code}"],
                              capture_output=True, text=True, timeout=30)
        body, status = done.stdout.rsplit("\n", 1)
        return status, body

    status, body = curl(CURL_PROPOSE)
    assert status == "201", body
    assert json.loads(body)["proposedBy"] == "api:ops-token"
    assert curl(CURL_PROJECT)[0] == "401"
    status, body = curl(CURL_PROJECT, "-H", f"Authorization: Bearer {API_TOKEN}")
    assert status == "201", body


@pytest.mark.parametrize("host", ["evil.example", "evil.example:3000", "127.0.0.1.nip.io",
                                  "localhost.evil.example", "titan.example.com.evil"])
def test_foreign_host_headers_are_refused(http: httpx.Client, host: str) -> None:
    for method, path in (("GET", "/health"), ("GET", "/api/projects"), ("POST", "/api/projects")):
        response = http.request(method, path, headers={**BEARER, **JSON, "Host": host},
                                json=PROJECT)
        assert response.status_code == 421, (host, path, response.text)
    assert http.get("/api/projects", headers=BEARER).json()["total"] == 0


def test_loopback_and_allowed_host_headers_are_answered(env: dict) -> None:
    with TitanApiProcess({**env, "TITAN_API_ALLOWED_HOSTS": "titan.example.com:443, *.corp.test"}
                         ) as api, httpx.Client(base_url=api.url, trust_env=False) as client:
        for host in ("localhost", f"localhost:{api.port}", "127.0.0.1", f"[::1]:{api.port}",
                     "titan.example.com", "TITAN.example.com:443", "ci.corp.test"):
            response = client.get("/api/projects", headers={**BEARER, "Host": host})
            assert response.status_code == 200, (host, response.text)
        assert client.get("/health", headers={"Host": "other.example.com"}).status_code == 421


async def test_changes_need_a_json_content_type(http: httpx.Client, db: Database) -> None:
    for headers, body in (({}, None), ({"Content-Type": "text/plain"}, json.dumps(PROJECT)),
                          ({"Content-Type": "application/x-www-form-urlencoded"}, "name=x"),
                          ({"Content-Type": "multipart/form-data; boundary=x"}, "--x--")):
        for method, path in (("POST", "/api/projects"), ("POST", "/api/projects/1/approve"),
                             ("DELETE", "/api/projects/1"), ("PATCH", "/api/projects/1")):
            response = http.request(method, path, headers={**BEARER, **headers}, content=body)
            assert response.status_code == 415, (method, path, headers, response.text)
    assert await _count(db, "projects") == 0
    created = http.post("/api/projects", content=json.dumps(PROJECT).encode(),
                        headers={**BEARER, "Content-Type": "application/json; charset=utf-8"})
    assert created.status_code == 201, created.text


async def test_a_foreign_origin_is_refused_and_cors_is_off(http: httpx.Client, api: TitanApiProcess,
                                                           db: Database) -> None:
    for origin in ("https://evil.example", "null", f"http://evil.example:{api.port}",
                   f"http://localhost:{api.port + 1}"):
        response = http.post("/api/projects", json=PROJECT,
                             headers={**BEARER, "Origin": origin})
        assert response.status_code == 403, (origin, response.text)
        assert "access-control-allow-origin" not in response.headers
        preflight = http.options("/api/projects", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in preflight.headers
    assert await _count(db, "projects") == 0
    same = http.post("/api/projects", json=PROJECT,
                     headers={**BEARER, "Origin": f"http://127.0.0.1:{api.port}"})
    assert same.status_code == 201, same.text
    assert "access-control-allow-origin" not in same.headers


def test_without_a_token_on_loopback_the_api_stays_open(titan_env: dict) -> None:
    with TitanApiProcess({**titan_env, "TITAN_API_TOKEN": ""}) as api, \
            httpx.Client(base_url=api.url, trust_env=False) as client:
        assert client.post("/api/projects", json=PROJECT).status_code == 201
        assert client.get("/health").json()["database"] == {"reachable": True}
        # The Host, Origin and Content-Type rules hold without a token too.
        assert client.get("/health", headers={"Host": "evil.example"}).status_code == 421
        assert client.post("/api/projects/1/approve").status_code == 415
        assert client.post("/api/projects", json=PROJECT,
                           headers={"Origin": "https://evil.example"}).status_code == 403
