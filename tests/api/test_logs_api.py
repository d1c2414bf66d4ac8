"""GET /api/logs (filters, keyset paging), its server-sent-event follow, artifact download and
GET /api/templates: over real HTTP (uvicorn on loopback) on a real database."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.api.server import ApiServer
from tests.helpers import wait_until_blocking
from worker.config import Settings, reload_settings
from worker.db.engine import libpq_url
from worker.templates import TemplateRegistry

API_TOKEN = "logs-api-token-7d2e"


@pytest.fixture
def client(api: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, trust_env=False, timeout=30,
                      headers={"Content-Type": "application/json"}) as http:
        yield http


@pytest.fixture
def sql(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(libpq_url(db_url), autocommit=True) as conn:
        yield conn


def write_log(sql: psycopg.Connection, message: str, *, level: str = "INFO",
              project_id: int | None = None, job_id: int | None = None,
              worker_id: str | None = None, ts: datetime | None = None) -> int:
    """One line, as the worker's log sink writes it (the same table, the same NOTIFY)."""
    row = sql.execute(
        "INSERT INTO log_entries (ts, level, logger, message, project_id, job_id, worker_id) "
        "VALUES (coalesce(%s, clock_timestamp()), %s, 'titan.test', %s, %s, %s, %s) "
        "RETURNING id", (ts, level, message, project_id, job_id, worker_id)).fetchone()
    assert row is not None
    return int(row[0])


def messages(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["message"] for item in response.json()["items"]]


def test_filters_narrow_the_log(client: httpx.Client, sql: psycopg.Connection) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=3)
    write_log(sql, "old build of alpha finished", project_id=1, ts=long_ago)
    write_log(sql, "alpha: scaffold started", project_id=1, job_id=10, worker_id="w-1")
    write_log(sql, "alpha: build FAILED with exit 2", level="ERROR", project_id=1, job_id=11)
    write_log(sql, "beta: deploy done", project_id=2, job_id=20, worker_id="w-2")
    write_log(sql, "beta: disk almost full (95%)", level="WARNING", project_id=2)

    assert messages(client.get("/api/logs")) == [
        "beta: disk almost full (95%)", "beta: deploy done", "alpha: build FAILED with exit 2",
        "alpha: scaffold started", "old build of alpha finished"]
    assert messages(client.get("/api/logs", params={"project": 2})) == [
        "beta: disk almost full (95%)", "beta: deploy done"]
    assert messages(client.get("/api/logs", params={"job": 11})) == [
        "alpha: build FAILED with exit 2"]
    assert messages(client.get("/api/logs", params={"worker": "w-1"})) == [
        "alpha: scaffold started"]
    assert messages(client.get("/api/logs", params={"level": "WARNING"})) == [
        "beta: disk almost full (95%)", "alpha: build FAILED with exit 2"]
    # Case-insensitive substring; % and _ are literal characters, not wildcards.
    assert messages(client.get("/api/logs", params={"text": "failed"})) == [
        "alpha: build FAILED with exit 2"]
    assert messages(client.get("/api/logs", params={"text": "95%"})) == [
        "beta: disk almost full (95%)"]
    assert messages(client.get("/api/logs", params={"text": "d_ne"})) == []
    assert messages(client.get("/api/logs", params={"text": "build", "project": 1})) == [
        "alpha: build FAILED with exit 2", "old build of alpha finished"]
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert "old build of alpha finished" not in messages(
        client.get("/api/logs", params={"since": yesterday}))
    assert messages(client.get("/api/logs", params={"until": yesterday})) == [
        "old build of alpha finished"]

    line = client.get("/api/logs", params={"job": 10}).json()["items"][0]
    assert (line["level"], line["projectId"], line["jobId"], line["workerId"]) == (
        "INFO", 1, 10, "w-1")
    assert datetime.fromisoformat(line["ts"]).tzinfo is not None

    bad = client.get("/api/logs", params={"level": "LOUD"})
    assert bad.status_code == 422 and bad.json()["field"] == "level"


def test_pages_walk_the_whole_log_by_cursor(client: httpx.Client,
                                            sql: psycopg.Connection) -> None:
    ids = [write_log(sql, f"line {n}") for n in range(25)]
    seen: list[int] = []
    cursor: int | None = None
    pages = 0
    while True:
        params: dict[str, int] = {"limit": 10}
        if cursor is not None:
            params["cursor"] = cursor
        page = client.get("/api/logs", params=params).json()
        pages += 1
        seen += [item["id"] for item in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)  # every line once, newest first
    assert pages == 3

    # A line written while paging does not shift the older pages (keyset, not offset).
    first = client.get("/api/logs", params={"limit": 10}).json()
    write_log(sql, "a newer line")
    second = client.get("/api/logs", params={"limit": 10, "cursor": first["nextCursor"]}).json()
    assert [i["id"] for i in second["items"]] == sorted(ids, reverse=True)[10:20]


def _events(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    """Server-sent events as dicts of their fields (comments skipped)."""
    event: dict[str, str] = {}
    for line in lines:
        if not line:
            if event:
                yield event
            event = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            event[name] = value.removeprefix(" ")


def _sessions_listening(sql: psycopg.Connection) -> int:
    row = sql.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                      "AND query = 'LISTEN titan_events'").fetchone()
    return int(row[0]) if row else 0


def test_follow_streams_lines_written_after_connecting(client: httpx.Client,
                                                       sql: psycopg.Connection) -> None:
    write_log(sql, "before anyone followed", project_id=7)
    with client.stream("GET", "/api/logs/stream", params={"project": 7}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _events(response.iter_lines())
        ready = next(events)
        assert ready["event"] == "ready"
        write_log(sql, "another project's line", project_id=8)
        new_id = write_log(sql, "written while following", project_id=7, level="WARNING")
        event = next(events)
        assert (event["event"], event["id"]) == ("log", str(new_id))
        line = json.loads(event["data"])
        assert (line["message"], line["level"], line["projectId"]) == (
            "written while following", "WARNING", 7)
        # The follower holds a LISTEN connection (it may still be connecting when a line
        # arrives by the fallback poll).
        wait_until_blocking(lambda: _sessions_listening(sql) == 1, 30,
                            "the follower's LISTEN connection to open")
    # The client went away: the server stops following and lets its LISTEN connection go.
    wait_until_blocking(lambda: _sessions_listening(sql) == 0, 30,
                        "the follower's LISTEN connection to close")


def test_follow_resumes_after_last_event_id(client: httpx.Client,
                                            sql: psycopg.Connection) -> None:
    first = write_log(sql, "seen before the connection dropped")
    missed = write_log(sql, "written while disconnected")
    with client.stream("GET", "/api/logs/stream",
                       headers={"Last-Event-ID": str(first)}) as response:
        events = _events(response.iter_lines())
        assert next(events)["event"] == "ready"
        event = next(events)
    assert event["id"] == str(missed)
    assert json.loads(event["data"])["message"] == "written while disconnected"


def _project(client: httpx.Client, name: str) -> dict:
    created = client.post("/api/projects", json={"name": name, "templateRef": "persona/basic"})
    assert created.status_code == 201, created.text
    return created.json()


def _artifact(sql: psycopg.Connection, project_id: int, name: str, path: Path | str | None,
              kind: str = "file", uri: str | None = None) -> int:
    row = sql.execute("INSERT INTO artifacts (project_id, step, kind, name, path, uri) "
                      "VALUES (%s, 'publish', %s, %s, %s, %s) RETURNING id",
                      (project_id, kind, name, str(path) if path else None, uri)).fetchone()
    assert row is not None
    return int(row[0])


def test_artifact_download_serves_the_projects_own_files(
        client: httpx.Client, sql: psycopg.Connection, tmp_path: Path) -> None:
    settings = reload_settings()
    project = _project(client, "Download Me")
    out = settings.projects_dir / project["slug"]
    (out / "site").mkdir(parents=True)
    archive = out / "download-me-1.0.tar.gz"
    payload = bytes(range(256)) * 4000  # binary, ~1 MB
    archive.write_bytes(payload)
    (out / "site" / "index.html").write_text("<h1>Download Me</h1>")
    (out / "site" / "css").mkdir()
    (out / "site" / "css" / "style.css").write_text("h1 { color: teal }")
    base = f"/api/projects/{project['id']}/artifacts"

    got = client.get(f"{base}/{_artifact(sql, project['id'], 'archive', archive)}/download")
    assert got.status_code == 200
    assert got.content == payload
    assert got.headers["content-type"] in ("application/gzip", "application/x-tar")
    assert got.headers["content-disposition"] == 'attachment; filename="download-me-1.0.tar.gz"'

    site = client.get(f"{base}/{_artifact(sql, project['id'], 'site', out / 'site', 'site')}"
                      "/download")
    assert site.status_code == 200 and site.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(site.content)) as zipped:
        assert sorted(zipped.namelist()) == ["css/style.css", "index.html"]
        assert zipped.read("index.html") == b"<h1>Download Me</h1>"

    # Another project's artifact is not reachable through this project's id.
    other = _project(client, "Someone Else")
    assert client.get(f"/api/projects/{other['id']}/artifacts/"
                      f"{_artifact(sql, project['id'], 'copy', archive)}/download"
                      ).status_code == 404


def test_artifact_download_refuses_paths_outside_the_project(
        client: httpx.Client, sql: psycopg.Connection, tmp_path: Path) -> None:
    settings: Settings = reload_settings()
    project = _project(client, "Confined")
    other = _project(client, "Neighbour")
    out = settings.projects_dir / project["slug"]
    out.mkdir(parents=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    neighbour = settings.projects_dir / other["slug"]
    neighbour.mkdir(parents=True)
    (neighbour / "private.txt").write_text("the neighbour's")
    (out / "link.txt").symlink_to(secret)
    base = f"/api/projects/{project['id']}/artifacts"
    for name, path in (("absolute", secret), ("etc", "/etc/passwd"),
                       ("dotdot", out / ".." / other["slug"] / "private.txt"),
                       ("symlink", out / "link.txt"), ("missing", out / "gone.zip"),
                       ("root", out)):
        answer = client.get(f"{base}/{_artifact(sql, project['id'], name, path)}/download")
        assert answer.status_code == 404, (name, answer.text)
        assert b"not yours" not in answer.content and b"root:" not in answer.content
    url_only = _artifact(sql, project["id"], "service", None, "url", "http://127.0.0.1:9/")
    answer = client.get(f"{base}/{url_only}/download")
    assert answer.status_code == 404 and "URL" in answer.json()["detail"]
    assert client.get(f"{base}/999999/download").status_code == 404


def test_templates_list_the_registry(client: httpx.Client) -> None:
    registry = TemplateRegistry.from_settings(reload_settings())
    answer = client.get("/api/templates")
    assert answer.status_code == 200
    items = {item["ref"]: item for item in answer.json()["items"]}
    assert sorted(items) == registry.refs()
    for template in registry.all():
        item = items[template.ref]
        assert (item["title"], item["description"]) == (template.title, template.description)
        assert item["projectTypes"] == list(template.project_types)
        assert item["specSchema"] == template.spec_schema
    persona = items["persona/basic"]
    assert persona["needsModel"] is False and persona["available"] is True
    # No model configured in tests: a template that needs one says it cannot be used now.
    ai_app = items["ai/python-app"]
    assert ai_app["needsModel"] is True and ai_app["available"] is False
    assert "TITAN_AI_URL" in ai_app["unavailableReason"]


def test_the_new_endpoints_need_the_api_token(titan_env: dict,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TITAN_API_TOKEN", API_TOKEN)
    paths = ["/api/logs", "/api/logs/stream", "/api/templates",
             "/api/projects/1/artifacts/1/download"]
    with ApiServer(reload_settings()) as server, \
            httpx.Client(base_url=server.url, trust_env=False, timeout=30) as http:
        for path in paths:
            refused = http.get(path)
            assert refused.status_code == 401, path
            assert refused.headers["www-authenticate"] == "Bearer"
            assert http.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        bearer = {"Authorization": f"Bearer {API_TOKEN}"}
        assert http.get("/api/logs", headers=bearer).status_code == 200
        assert http.get("/api/templates", headers=bearer).status_code == 200
        assert http.get("/api/projects/1/artifacts/1/download",
                        headers=bearer).status_code == 404
        with http.stream("GET", "/api/logs/stream", headers=bearer) as stream:
            assert stream.status_code == 200
            assert next(_events(stream.iter_lines()))["event"] == "ready"


def test_followers_are_capped_and_a_leaving_one_frees_its_place(
        client: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from worker.api import logs

    monkeypatch.setattr(logs, "MAX_FOLLOWERS", 1)  # the server runs in this process
    with client.stream("GET", "/api/logs/stream") as first:
        events = _events(first.iter_lines())  # held: dropping it would close the connection
        assert next(events)["event"] == "ready"
        refused = client.get("/api/logs/stream")
        assert refused.status_code == 503 and "try later" in refused.json()["detail"]

    def follows_again() -> bool:
        with client.stream("GET", "/api/logs/stream") as again:
            return again.status_code == 200

    wait_until_blocking(follows_again, 30, "a follower's place to free up")
