"""A published project read field by field through the API and the CLI, and what the API and
the CLI refuse or default when a project is created or edited.

Real worker process, real database, the API on a loopback port, the site fetched over HTTP.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.api.server import ApiServer
from tests.conftest import titan
from worker.db.models import PIPELINE_STEPS

PROJECT_FIELDS = {
    "id", "name", "slug", "type", "templateRef", "spec", "status", "stage", "progress", "url",
    "outputDir", "lastError", "requiresApproval", "approvalTimeoutSeconds", "priceMinor",
    "currency", "flags", "createdAt", "updatedAt", "publishedAt", "jobs", "artifacts",
    "approvals", "decidedBy", "deployTarget", "deployConfig", "build",
}
JOB_FIELDS = {"id", "kind", "status", "attempts", "maxAttempts", "lastError", "runAt",
              "createdAt", "finishedAt", "runs"}
RUN_FIELDS = {"id", "attempt", "worker", "status", "error", "startedAt", "finishedAt",
              "durationMs"}
ARTIFACT_FIELDS = {"id", "step", "kind", "name", "path", "uri", "sizeBytes", "sha256",
                   "createdAt", "build"}


@pytest.fixture
def http(api: ApiServer) -> Any:
    with httpx.Client(base_url=api.url, trust_env=False, timeout=30) as client:
        yield client


def _when(value: str, started: datetime) -> datetime:
    moment = datetime.fromisoformat(value)
    assert moment.tzinfo is not None, value
    assert started <= moment <= datetime.now(UTC), value
    return moment


def _check_published(project: dict[str, Any], started: datetime, projects_dir: Path,
                     timeout_seconds: int) -> None:
    """Every field of a published persona/basic project holds a value a person can use."""
    assert set(project) == PROJECT_FIELDS  # a new field needs a check here
    assert isinstance(project["id"], int) and project["id"] >= 1
    assert project["name"] == "Field Guide" and project["slug"] == "field-guide"
    assert project["type"] == "web-app"  # persona/basic's manifest type; none was given
    assert project["templateRef"] == "persona/basic"
    # published without waiting for a person: nobody decided
    assert project["approvals"] == [] and project["decidedBy"] is None
    assert project["spec"]["description"] == "Birds of the valley"
    assert project["spec"]["features"] == ["Owls", "Herons"]
    assert project["spec"]["persona"] == {}  # the schema's default
    assert (project["status"], project["stage"], project["progress"]) == (
        "published", "publish", 1.0)

    page = httpx.get(project["url"], trust_env=False, timeout=30)
    assert page.status_code == 200 and "Field Guide" in page.text

    output_dir = Path(project["outputDir"])
    assert output_dir.is_absolute() and output_dir.is_dir(), project["outputDir"]
    assert output_dir == projects_dir / "field-guide"
    assert (output_dir / "index.html").read_text() == page.text

    assert project["lastError"] is None and project["flags"] == []
    # none named: the loopback site host, with no options
    assert project["deployTarget"] == "local" and project["deployConfig"] == {}
    assert project["build"] == 1  # the first build; a rebuild makes it 2
    assert project["requiresApproval"] is False
    assert project["approvalTimeoutSeconds"] == timeout_seconds
    assert (project["priceMinor"], project["currency"]) == (4900, "EUR")
    created = _when(project["createdAt"], started)
    published = _when(project["publishedAt"], started)
    assert created <= published <= _when(project["updatedAt"], started)

    assert [j["kind"] for j in project["jobs"]] == list(PIPELINE_STEPS)
    for job in project["jobs"]:
        assert set(job) == JOB_FIELDS
        assert job["status"] == "succeeded" and job["lastError"] is None
        assert 1 <= job["attempts"] <= job["maxAttempts"]
        assert _when(job["createdAt"], started) <= _when(job["finishedAt"], started)
        _when(job["runAt"], started)
        assert job["runs"], job
        for run in job["runs"]:
            assert set(run) == RUN_FIELDS
            assert run["status"] == "succeeded" and run["error"] is None
            assert run["attempt"] >= 1 and run["worker"] and run["durationMs"] >= 0
            assert _when(run["startedAt"], started) <= _when(run["finishedAt"], started)

    kinds = {a["kind"] for a in project["artifacts"]}
    assert {"site", "archive"} <= kinds, kinds
    for artifact in project["artifacts"]:
        assert set(artifact) == ARTIFACT_FIELDS
        assert artifact["step"] in PIPELINE_STEPS and artifact["name"]
        assert artifact["build"] == 1
        assert artifact["path"] or artifact["uri"], artifact
        _when(artifact["createdAt"], started)
        if artifact["path"]:
            path = Path(artifact["path"])
            assert path.exists(), artifact
            assert artifact["sizeBytes"] and artifact["sizeBytes"] > 0, artifact
        if artifact["sha256"]:
            digest = hashlib.sha256(Path(artifact["path"]).read_bytes()).hexdigest()
            assert artifact["sha256"] == digest
        if artifact["uri"]:
            assert httpx.get(artifact["uri"], trust_env=False, timeout=30).status_code == 200


def test_published_project_every_field_through_api_and_cli(api: ApiServer, http: Any,
                                                           titan_env: dict) -> None:
    started = datetime.now(UTC)
    created = http.post("/api/projects", json={
        "name": "Field Guide", "templateRef": "persona/basic", "priceMinor": 4900,
        "currency": "EUR",
        "spec": {"description": "Birds of the valley", "features": ["Owls", "Herons"]}})
    assert created.status_code == 201, created.text
    project_id = created.json()["id"]

    worker = titan(titan_env, "worker", "--exit-when-idle")
    assert worker.returncode == 0, worker.stdout[-2000:] + worker.stderr[-2000:]

    settings = api.settings
    from_api = http.get(f"/api/projects/{project_id}").json()
    shown = titan(titan_env, "project", "show", "field-guide", "--json")
    assert shown.returncode == 0, shown.stderr
    from_cli = json.loads(shown.stdout)
    for project in (from_api, from_cli):
        _check_published(project, started, settings.projects_dir,
                         settings.approval_timeout_seconds)
    assert from_api == from_cli
    text = titan(titan_env, "project", "show", "field-guide").stdout
    assert "type: web-app" in text and f"output:   {from_api['outputDir']}" in text, text

    # A row written before the fix held SQL text; a worker starting up repairs it.
    with psycopg.connect(titan_env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("UPDATE projects SET output_dir = ':param_1 / CAST((SELECT projects.slug "
                     "FROM projects WHERE projects.id = :id_1) AS NUMERIC)' WHERE id = %s",
                     (project_id,))
    worker = titan(titan_env, "worker", "--exit-when-idle")
    assert worker.returncode == 0, worker.stdout[-2000:] + worker.stderr[-2000:]
    repaired = http.get(f"/api/projects/{project_id}").json()["outputDir"]
    assert repaired == from_api["outputDir"]


@pytest.mark.parametrize(("template", "expected"), [
    ("persona/basic", "web-app"), ("python/cli", "cli"), ("fastapi/service", "api-service")])
def test_type_defaults_from_the_template(api: ApiServer, http: Any, titan_env: dict,
                                         template: str, expected: str) -> None:
    by_api = http.post("/api/projects", json={"name": "By API", "templateRef": template})
    assert by_api.status_code == 201, by_api.text
    assert by_api.json()["type"] == expected
    by_cli = titan(titan_env, "project", "create", "By CLI", "--template", template, "--json")
    assert by_cli.returncode == 0, by_cli.stderr
    assert json.loads(by_cli.stdout)["type"] == expected
    chosen = titan(titan_env, "project", "create", "Chosen", "--template", template,
                   "--type", "tool", "--json")
    assert json.loads(chosen.stdout)["type"] == "tool"  # an explicit type still wins
    explicit = http.post("/api/projects", json={"name": "Explicit", "templateRef": template,
                                                "type": "library"})
    assert explicit.json()["type"] == "library"
    listed = {p["name"]: p["type"] for p in http.get("/api/projects").json()["items"]}
    assert listed == {"By API": expected, "By CLI": expected, "Chosen": "tool",
                      "Explicit": "library"}


def test_api_refuses_bad_names_and_codes_naming_the_field(api: ApiServer, http: Any,
                                                          titan_env: dict) -> None:
    made = http.post("/api/projects", json={"name": "Calm"})
    assert made.status_code == 201, made.text
    path = f"/api/projects/{made.json()['id']}"
    refused = [
        ("POST", "/api/projects", {"name": "Loud\x1b[31m red"}, "name"),
        ("POST", "/api/projects", {"name": "Two\nlines"}, "name"),
        ("POST", "/api/projects", {"name": "Priced", "currency": "XXX"}, "currency"),
        ("PATCH", path, {"name": "Bell\x07"}, "name"),
        ("PATCH", path, {"name": "New\nline"}, "name"),
        ("PATCH", path, {"currency": "ABC"}, "currency"),
        ("POST", "/api/sales/orders", {"amount": "1e5", "currency": "USD"}, "amount"),
        ("POST", "/api/sales/orders", {"amount": "92233720368547758.07", "currency": "USD"},
         "amount"),
        ("POST", "/api/sales/orders", {"amount": 1e30, "currency": "USD"}, "amount"),
        ("POST", "/api/sales/orders", {"amount": "10.00", "currency": "XTS"}, "currency"),
        ("POST", "/api/sales/orders", {"amount": "1.00", "currency": "USD",
                                       "customer": "N\x00L"}, "customer"),
    ]
    for method, url, body, field in refused:
        answer = http.request(method, url, json=body)
        assert answer.status_code == 422, (body, answer.status_code, answer.text)
        assert answer.json()["field"] == field, (body, answer.text)
    assert [p["name"] for p in http.get("/api/projects").json()["items"]] == ["Calm"]
    assert http.get(path).json()["currency"] == "USD"
    with psycopg.connect(titan_env["DATABASE_URL"]) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (0,)
