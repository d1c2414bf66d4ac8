"""fastapi/service end to end: a real worker scaffolds the app, runs its tests, starts it with
uvicorn on a loopback port (a process that outlives the worker), probes it and publishes it."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.conftest import titan
from tests.templates.conftest import run_worker, show
from worker.sitebuild import service_state, stop_service


def test_service_is_served_after_the_worker_exits(service_env: dict) -> None:
    created = titan(service_env, "project", "create", "Notes API", "--template",
                    "fastapi/service", "--type", "api", "--description", "Keeps notes",
                    "--feature", "notes", "--feature", "tags")
    assert created.returncode == 0, created.stderr
    run_worker(service_env)

    project = show(service_env, "notes-api")
    assert project["status"] == "published", project.get("lastError")
    assert all(j["status"] == "succeeded" for j in project["jobs"])
    url = project["url"]
    assert url.startswith("http://127.0.0.1:")

    # The worker has exited; the service it deployed still answers.
    with httpx.Client(base_url=url, trust_env=False, timeout=10) as client:
        assert client.get("/health").json() == {"status": "ok", "service": "notes-api"}
        assert client.get("/").json()["description"] == "Keeps notes"
        created_note = client.post("/notes", json={"name": "buy milk"})
        assert created_note.status_code == 201
        assert created_note.json() in client.get("/notes").json()
        assert client.get("/tags").status_code == 200

    archive = next(a for a in project["artifacts"] if a["kind"] == "archive")
    with zipfile.ZipFile(archive["path"]) as zf:
        assert {"app/main.py", "tests/test_app.py", "pyproject.toml"} <= set(zf.namelist())

    # Its pid and port are recorded under TITAN_HOME, so it can be stopped.
    home = Path(service_env["TITAN_HOME"])
    assert service_state(home, "notes-api")["url"] == url
    assert stop_service(home, "notes-api")
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "health", trust_env=False, timeout=2)


def test_app_that_does_not_start_fails_deploy_with_its_output(service_env: dict,
                                                              tmp_path: Path) -> None:
    """A copy of fastapi/service (TEMPLATES_DIR overrides the built-in) whose app crashes when
    uvicorn imports it outside of tests: deploy fails at once (a crash is not worth retrying; a
    port clash would be) and uvicorn's traceback is in the error and the log."""

    extra = tmp_path / "templates"
    shutil.copytree(Path(__file__).resolve().parents[2] / "templates/fastapi/service",
                    extra / "fastapi" / "service")
    main = extra / "fastapi/service/files/app/main.py.j2"
    main.write_text(main.read_text() + '\nimport sys\nif "pytest" not in sys.modules:\n'
                    '    raise RuntimeError("database is unreachable")\n')
    env = {**service_env, "TEMPLATES_DIR": str(extra)}

    assert titan(env, "project", "create", "Crashy", "--template", "fastapi/service"
                 ).returncode == 0
    run_worker(env)

    project = show(env, "crashy")
    assert project["status"] == "failed"
    assert project["stage"] == "deploy"
    assert "crashy exited with status 1 before answering" in project["lastError"]
    assert "RuntimeError: database is unreachable" in project["lastError"]
    deploy = next(j for j in project["jobs"] if j["kind"] == "deploy")
    assert (deploy["status"], deploy["attempts"]) == ("dead", 1)
    assert "RuntimeError: database is unreachable" in deploy["lastError"]

    logs = titan(env, "logs", "--project", "crashy", "--limit", "30")
    assert "crashy exited with status 1; last lines of its output:" in logs.stdout
    assert 'raise RuntimeError("database is unreachable")' in logs.stdout

