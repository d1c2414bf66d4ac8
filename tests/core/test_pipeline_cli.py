"""persona/basic end to end through the real CLI and a real worker process."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import httpx

from tests.conftest import titan


def test_create_then_worker_publishes_site(titan_env: dict, tmp_path: Path) -> None:
    created = titan(titan_env, "project", "create", "My Web App", "--template", "persona/basic",
                    "--description", "A modern web application", "--feature", "authentication",
                    "--feature", "dashboard", "--feature", "api")
    assert created.returncode == 0, created.stderr
    assert "my-web-app" in created.stdout

    worker = titan(titan_env, "worker", "--exit-when-idle")
    assert worker.returncode == 0, worker.stdout[-2000:] + worker.stderr[-2000:]

    shown = titan(titan_env, "project", "show", "my-web-app", "--json")
    project = json.loads(shown.stdout)
    assert project["status"] == "published"
    assert project["progress"] == 1.0
    assert [j["kind"] for j in project["jobs"]] == ["scaffold", "build", "deploy", "verify",
                                                     "publish"]
    assert all(j["status"] == "succeeded" for j in project["jobs"])

    page = httpx.get(project["url"], trust_env=False)
    assert page.status_code == 200 and "My Web App" in page.text
    assert "authentication" in page.text

    archive = next(a for a in project["artifacts"] if a["kind"] == "archive")
    assert len(archive["sha256"]) == 64
    with zipfile.ZipFile(archive["path"]) as zf:
        zf.extractall(tmp_path / "unzipped")
    unzipped = tmp_path / "unzipped"
    assert (unzipped / "index.html").read_text() == page.text
    assert (unzipped / "features" / "dashboard.html").is_file()
    assert (unzipped / "assets" / "style.css").is_file()
