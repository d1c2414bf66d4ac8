"""A spec that violates its template's JSON Schema is refused, naming the field, by every way
in: the CLI (exit 2, one line), ProjectService (what the desktop Input form and Jason call) and
the REST API (422). Nothing is written when it is refused."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import titan
from worker.config import Settings
from worker.db.engine import Database
from worker.errors import InvalidInput
from worker.services.projects import ProjectService
from worker.templates import TemplateRegistry

TEMPLATES = TemplateRegistry.from_settings(Settings(titan_home=Path("/nonexistent")))


def _project_count(env: dict) -> int:
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        return conn.execute("SELECT count(*) FROM projects").fetchone()[0]


@pytest.mark.parametrize(("ref", "spec", "field", "message"), [
    ("python/cli", {"features": ["status", "Bad Name"]}, "spec.features[1]",
     "must be a subcommand name: 1 to 40 lower-case letters, digits or dashes, starting with "
     "a letter"),
    ("python/cli", {"features": ["hello"]}, "spec.features[0]",
     "'hello' is built in; choose another name"),
    ("python/cli", {"version": "one"}, "spec.version", "must look like 1.2.3"),
    ("python/cli", {"greeting": 42}, "spec.greeting", "must be text"),
    ("fastapi/service", {"features": ["notes", "tags", "notes"]}, "spec.features[2]",
     "duplicate of item 0 ('notes')"),
    ("fastapi/service", {"colour": "red"}, "spec.colour",
     "unknown field (allowed: description, features, version)"),
    ("persona/basic", {"persona": {"name": ["Ada"]}}, "spec.persona.name", "must be text"),
    ("persona/basic", {"features": "search"}, "spec.features", "must be a list"),
])
def test_schema_violation_names_the_field(ref: str, spec: dict, field: str, message: str
                                          ) -> None:
    with pytest.raises(InvalidInput) as refused:
        TEMPLATES.get(ref).validate_spec(spec)
    assert (refused.value.field, refused.value.message) == (field, message)


def test_schema_defaults_fill_what_the_spec_leaves_out() -> None:
    spec = TEMPLATES.get("python/cli").validate_spec({"features": ["sync"]})
    assert spec == {"features": ["sync"], "description": "", "greeting": "Hello",
                    "version": "0.1.0"}


def test_cli_refuses_a_bad_spec_with_one_line_and_writes_nothing(titan_env: dict,
                                                                  tmp_path: Path) -> None:
    created = titan(titan_env, "project", "create", "Tool", "--template", "python/cli",
                    "--feature", "status", "--feature", "Bad Name")
    assert created.returncode == 2
    assert created.stderr.strip().splitlines() == [
        "titan: spec.features[1]: must be a subcommand name: 1 to 40 lower-case letters, "
        "digits or dashes, starting with a letter"]

    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps({"colour": "red"}))
    created = titan(titan_env, "project", "create", "Service", "--template", "fastapi/service",
                    "--spec-file", str(spec_file))
    assert created.returncode == 2
    assert created.stderr.strip().splitlines() == [
        "titan: spec.colour: unknown field (allowed: description, features, version)"]
    assert _project_count(titan_env) == 0


async def test_project_service_refuses_a_bad_spec(settings: Settings, db: Database,
                                                  titan_env: dict) -> None:
    service = ProjectService.from_settings(db, settings)
    with pytest.raises(InvalidInput) as refused:
        await service.create({"name": "Notes API", "templateRef": "fastapi/service",
                              "spec": {"features": ["notes", "Notes!"]}})
    assert refused.value.field == "spec.features[1]"
    assert _project_count(titan_env) == 0

    project = await service.create({"name": "Notes API", "templateRef": "fastapi/service",
                                    "spec": {"features": ["notes"]}})
    assert project.spec == {"features": ["notes"], "description": "", "version": "0.1.0"}


async def test_api_answers_422_naming_the_field(settings: Settings, db: Database,
                                                titan_env: dict) -> None:
    app_module = pytest.importorskip("worker.api.app")
    app = app_module.create_app(settings, db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        response = await client.post("/api/projects", json={
            "name": "Tool", "templateRef": "python/cli", "spec": {"version": "one"}})
    assert response.status_code == 422
    assert response.json()["field"] == "spec.version"
    assert response.json()["message"] == "must look like 1.2.3"
    assert _project_count(titan_env) == 0
