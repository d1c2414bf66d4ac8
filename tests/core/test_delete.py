"""Deleting a project stops what it started and removes its folders (or keeps them when asked):
real worker, real uvicorn service, real site host, the CLI and the API over loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.server import ApiServer
from tests.conftest import titan
from worker.config import reload_settings
from worker.sitebuild import service_state, stop_all_services
from worker.sitehost import read_state

# Real processes over tens of seconds: part of the fault suite (-m 'not slow' leaves it out).
pytestmark = pytest.mark.slow


@pytest.fixture
def env(titan_env: dict) -> Iterator[dict]:
    yield titan_env
    stop_all_services(Path(titan_env["TITAN_HOME"]))


def _show(env: dict, ref: str) -> dict:
    shown = titan(env, "project", "show", ref, "--json")
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def _answers(url: str) -> int | None:
    try:
        return httpx.get(url, trust_env=False, timeout=5).status_code
    except httpx.TransportError:
        return None  # nothing listens there any more


def test_delete_stops_the_service_and_site_and_removes_folders(env: dict) -> None:
    home = Path(env["TITAN_HOME"])
    for args in (("Notes API", "--template", "fastapi/service", "--feature", "notes"),
                 ("Moon Garden",), ("Sun Garden",)):
        assert titan(env, "project", "create", *args).returncode == 0
    worker = titan(env, "worker", "--exit-when-idle", timeout=240)
    assert worker.returncode == 0, worker.stdout[-3000:]
    urls = {slug: _show(env, slug)["url"] for slug in ("notes-api", "moon-garden", "sun-garden")}
    assert all(_answers(url) == 200 for url in urls.values()), urls
    service_pid = service_state(home, "notes-api")["pid"]

    # The CLI: the service stops, both folders go, the site host keeps serving the others.
    deleted = titan(env, "project", "delete", "notes-api")
    assert deleted.returncode == 0, deleted.stderr
    assert "stopped its service" in deleted.stdout
    assert _answers(urls["notes-api"] + "health") is None
    assert not Path(f"/proc/{service_pid}").exists() or \
        Path(f"/proc/{service_pid}/stat").read_text().split(") ")[1][0] == "Z"
    assert not (home / "work" / "notes-api").exists()
    assert not (home / "projects" / "notes-api").exists()
    assert titan(env, "project", "show", "notes-api").returncode == 1

    assert titan(env, "project", "delete", "sun-garden").returncode == 0
    assert not (home / "projects" / "sun-garden").exists()
    assert _answers(urls["sun-garden"]) == 404
    assert _answers(urls["moon-garden"]) == 200  # still published: the host stays

    # The API with keepFiles: the files stay; nothing is published any more, so the host stops.
    moon_id = _show(env, "moon-garden")["id"]
    with ApiServer(reload_settings()) as api:
        answer = httpx.delete(f"{api.url}/api/projects/{moon_id}?keepFiles=true",
                              headers={"Content-Type": "application/json"},
                              trust_env=False, timeout=30)
    assert answer.status_code == 204, answer.text
    assert titan(env, "project", "show", "moon-garden").returncode == 1
    assert (home / "projects" / "moon-garden" / "index.html").is_file()
    assert (home / "work" / "moon-garden" / "dist" / "index.html").is_file()
    assert _answers(urls["moon-garden"]) is None
    assert "pid" not in read_state(home)
