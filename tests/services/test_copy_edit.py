"""A person edits persona/basic's model-written copy before approving (worker.services.copy).

The "model" is the SCRIPTED OpenAI-compatible server on loopback (tests/ai/scripted.py): the
copy must be a known text to edit. Everything else is real: the CLI, a worker process running
the pipeline up to ``awaiting_approval``, PostgreSQL, the rendered site on disk, the site host,
the approval and the publish step's zip."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.ai.scripted import Answer, ScriptedAI
from tests.api.server import ApiServer
from tests.conftest import titan
from tests.templates.conftest import run_worker, show
from worker.config import Settings
from worker.db.engine import Database
from worker.errors import Conflict, InvalidInput
from worker.services.copy import CopyService
from worker.services.logquery import LogFilter, LogService
from worker.sitehost import stop_site_host

COPY: dict[str, Any] = {
    "tagline": "Tea for people who write code",
    "about": "We brew tea for people who write code.",
    "features": [{"name": "Kettle", "text": "The Kettle boils water in 90 seconds."}],
    "bio": "Ada has brewed tea since 1999.",
}
NEW_TAGLINE = "Tea & <b>biscuits</b>, brewed slowly"
ESCAPED = "Tea &amp; &lt;b&gt;biscuits&lt;/b&gt;, brewed slowly"


def http(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def answer(obj: dict[str, Any]) -> Answer:
    text = json.dumps(obj)
    return Answer([text[i:i + 60] for i in range(0, len(text), 60)])


@pytest.fixture(autouse=True)
def _no_builds_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TITAN_AI_BUILDS", raising=False)


def build_awaiting(env: dict, server: ScriptedAI) -> dict[str, Any]:
    """Tea House (persona/basic, requires approval) built by a real worker up to approval."""
    server.then(answer(COPY))
    env = {**env, "TITAN_AI_URL": server.url, "TITAN_AI_MODEL": "scripted",
           "TITAN_AI_RETRY_BASE_SECONDS": "0.01"}
    created = titan(env, "project", "create", "Tea House", "--template", "persona/basic",
                    "--description", "A tea house", "--feature", "Kettle", "--feature", "Cups",
                    "--require-approval")
    assert created.returncode == 0, created.stderr
    run_worker(env)
    project = show(env, "tea-house")
    assert project["status"] == "awaiting_approval", project.get("lastError")
    return project


def service(db_url: str, settings: Settings) -> tuple[Database, CopyService]:
    db = Database(db_url)
    return db, CopyService.from_settings(db, settings)


def record(settings: Settings) -> dict[str, Any]:
    return json.loads((settings.projects_dir / ".ai-builds" / "tea-house.json").read_text())


def test_an_edited_tagline_is_rendered_kept_for_replays_logged_and_published(
        titan_env: dict, db_url: str, settings: Settings) -> None:
    with ScriptedAI() as server:
        project = build_awaiting(titan_env, server)
    index = settings.work_dir / "tea-house" / "dist" / "index.html"
    assert "Tea for people who write code" in index.read_text()

    async def edit() -> Any:
        db, copies = service(db_url, settings)
        try:
            shown = await copies.get(project["id"])
            saved = await copies.save("tea-house", {"tagline": NEW_TAGLINE,
                                                    "features[Cups]": "Cups hold 300 ml."},
                                      actor="ada", principal="user:ada")
            logs = await LogService(db).query(LogFilter(project_id=project["id"]), limit=500)
            return shown, saved, logs
        finally:
            await db.dispose()

    shown, saved, logs = asyncio.run(edit())
    # What the Output tab shows: one field per text, the features lined up with the spec.
    assert [(f.key, f.value) for f in shown.fields] == [
        ("tagline", COPY["tagline"]), ("about", COPY["about"]),
        ("features[Kettle]", "The Kettle boils water in 90 seconds."), ("features[Cups]", ""),
        ("bio", COPY["bio"])]
    assert shown.editable
    assert saved.changed == ["tagline", "features[Cups]"]

    # The built site (the preview) and the served site show the edit, escaped.
    html = index.read_text()
    assert ESCAPED in html and "Tea for people who write code" not in html
    assert "<b>biscuits" not in html
    assert "Cups hold 300 ml." in html
    with urllib.request.urlopen(show(titan_env, "tea-house")["url"], timeout=10) as response:
        served = response.read().decode()
    assert ESCAPED in served and "Tea for people who write code" not in served
    # The work folder's copy file and the replay record hold the person's words.
    copy_file = json.loads((settings.work_dir / "tea-house" / "src" / "copy.json").read_text())
    assert copy_file["tagline"] == NEW_TAGLINE
    kept = record(settings)
    assert json.loads(kept["files"]["src/copy.json"])["tagline"] == NEW_TAGLINE
    assert kept["edits"][-1]["by"] == "ada"
    assert kept["edits"][-1]["fields"] == ["tagline", "features[Cups]"]
    # The log says who edited which fields.
    line = next(e for e in logs if e.logger == "titan.copy")
    assert "ada edited the copy before approving: tagline, features[Cups]" in line.message
    assert line.extra["principal"] == "user:ada"

    # Approve and publish: the published zip has the edited copy.
    assert titan(titan_env, "project", "approve", "tea-house").returncode == 0
    run_worker(titan_env)
    published = show(titan_env, "tea-house")
    assert published["status"] == "published", published.get("lastError")
    archive = next(a for a in published["artifacts"] if a["kind"] == "archive")
    with zipfile.ZipFile(archive["path"]) as zf:
        zipped = zf.read("index.html").decode()
    assert ESCAPED in zipped and "Tea for people who write code" not in zipped

    # After publishing, an edit is refused and nothing changes.
    async def too_late() -> None:
        db, copies = service(db_url, settings)
        try:
            with pytest.raises(Conflict, match="is published: its copy can no longer be edited"):
                await copies.save("tea-house", {"tagline": "Too late"})
            after = await copies.get("tea-house")
            assert after is not None and not after.editable
            assert "published" in after.why_not
        finally:
            await db.dispose()

    asyncio.run(too_late())
    assert "Too late" not in index.read_text()
    assert json.loads(record(settings)["files"]["src/copy.json"])["tagline"] == NEW_TAGLINE


def test_an_invalid_edit_names_the_field_and_changes_nothing(
        titan_env: dict, db_url: str, settings: Settings) -> None:
    with ScriptedAI() as server:
        project = build_awaiting(titan_env, server)
    index = settings.work_dir / "tea-house" / "dist" / "index.html"
    before_html = index.read_text()
    before_record = record(settings)

    async def bad_edits() -> list[str]:
        db, copies = service(db_url, settings)
        problems = []
        try:
            for change in ({"tagline": "   "}, {"tagline": "x" * 201},
                           {"about": "fine", "features[Kettle]": "y" * 3001},
                           {"slogan": "no such field"}):
                with pytest.raises(InvalidInput) as caught:
                    await copies.save(project["id"], change, actor="ada")
                problems.append(str(caught.value))
        finally:
            await db.dispose()
        return problems

    problems = asyncio.run(bad_edits())
    assert problems[0] == "copy.tagline: must not be empty"
    assert problems[1] == "copy.tagline: must be at most 200 characters (it has 201)"
    assert problems[2].startswith("copy.features[Kettle]: must be at most 3000 characters")
    assert problems[3].startswith("copy.slogan: unknown field (fields: tagline, about")
    assert index.read_text() == before_html
    assert record(settings) == before_record
    assert show(titan_env, "tea-house")["status"] == "awaiting_approval"

    # The same from the command line: a bad edit exits 2 naming the field; a good one saves.
    refused = titan(titan_env, "project", "copy", "tea-house", "--set", "tagline=")
    assert refused.returncode == 2
    assert "copy.tagline: must not be empty" in refused.stderr
    assert index.read_text() == before_html
    saved = titan(titan_env, "project", "copy", "tea-house", "--set", "bio=Ada & Bo brew.")
    assert saved.returncode == 0, saved.stderr
    assert "saved bio of tea-house; the site was rendered again" in saved.stdout
    shown = titan(titan_env, "project", "copy", "tea-house", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["editable"] is True
    assert {f["key"]: f["value"] for f in data["fields"]}["bio"] == "Ada & Bo brew."
    assert "Ada &amp; Bo brew." in (settings.work_dir / "tea-house" / "dist" /
                                    "about.html").read_text()

    # And through the API: GET shows the copy, PATCH edits it (422 naming a bad field).
    with ApiServer(settings) as api:
        got = http(f"{api.url}/api/projects/{project['id']}/copy")
        assert got[0] == 200 and got[1]["fields"][0] == {
            "key": "tagline", "label": "Tagline", "value": COPY["tagline"], "maxLength": 200,
            "required": True}
        bad = http(f"{api.url}/api/projects/{project['id']}/copy", "PATCH",
                   {"fields": {"about": ""}})
        assert bad[0] == 422
        assert (bad[1]["field"], bad[1]["message"]) == ("copy.about", "must not be empty")
        good = http(f"{api.url}/api/projects/{project['id']}/copy", "PATCH",
                    {"fields": {"about": "Brewed by the API."}, "actor": "bot"})
        assert good[0] == 200 and good[1]["changed"] == ["about"]
    assert "Brewed by the API." in (settings.work_dir / "tea-house" / "dist" /
                                    "about.html").read_text()


def test_a_template_only_project_has_no_copy_to_edit(
        titan_env: dict, db_url: str, settings: Settings) -> None:
    created = titan(titan_env, "project", "create", "Plain House", "--template", "persona/basic",
                    "--feature", "Kettle", "--require-approval")
    assert created.returncode == 0, created.stderr
    run_worker(titan_env)

    async def read() -> Any:
        db, copies = service(db_url, settings)
        try:
            return await copies.get("plain-house")
        finally:
            await db.dispose()

    assert asyncio.run(read()) is None


def test_a_replay_on_another_worker_publishes_the_persons_words(
        titan_env: dict, tmp_path: Path) -> None:
    """The edit is in the shared replay record: a worker on another machine that replays the
    scaffold before publishing writes the person's copy, not the model's."""
    shared = {**titan_env, "OUTPUT_DIR": str(tmp_path / "shared-output")}
    machine_a = {**shared, "TITAN_HOME": str(tmp_path / "machine-a")}
    machine_b = {**shared, "TITAN_HOME": str(tmp_path / "machine-b")}
    try:
        published = _edit_on_a_and_publish_on_b(machine_a, machine_b)
    finally:
        for home in ("machine-a", "machine-b"):
            stop_site_host(tmp_path / home)
    worker_b, requests = published
    assert worker_b.returncode == 0, worker_b.stdout[-3000:]
    assert requests == 1  # the model wrote the copy once, on machine A
    assert "the model was not asked again" in worker_b.stdout
    project = show(machine_b, "tea-house")
    assert project["status"] == "published", project.get("lastError")
    site = (tmp_path / "machine-b" / "work" / "tea-house" / "dist" / "index.html").read_text()
    assert ESCAPED in site and COPY["tagline"] not in site


def _edit_on_a_and_publish_on_b(machine_a: dict, machine_b: dict) -> tuple[Any, int]:
    with ScriptedAI() as server:
        build_awaiting(machine_a, server)
        edited = titan(machine_a, "project", "copy", "tea-house", "--set",
                       f"tagline={NEW_TAGLINE}")
        assert edited.returncode == 0, edited.stderr
        assert titan(machine_a, "project", "approve", "tea-house").returncode == 0
        worker_b = titan({**machine_b, "TITAN_AI_URL": server.url, "TITAN_AI_MODEL": "scripted"},
                         "worker", "--exit-when-idle")
        return worker_b, len(server.requests)
