"""Edit a project's spec and rebuild it: the real CLI, a real worker, the real ``titan api``.

A rebuild is a new pipeline run (new jobs, build 2); the first build's jobs, runs and artifacts
stay, and its files are kept aside with the spec that built them.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.api.server import TitanApiProcess
from tests.conftest import titan

JSON = {"Content-Type": "application/json"}


def _show(env: dict, ref: str) -> dict:
    shown = titan(env, "project", "show", ref, "--json")
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def _build_all(env: dict) -> None:
    worker = titan(env, "worker", "--exit-when-idle")
    assert worker.returncode == 0, worker.stdout[-2000:] + worker.stderr[-2000:]


def test_edit_the_spec_and_rebuild_keeps_the_first_build(titan_env: dict) -> None:
    created = titan(titan_env, "project", "create", "Corner Bakery", "--description",
                    "Bread at dawn", "--feature", "menu")
    assert created.returncode == 0, created.stderr
    _build_all(titan_env)
    first = _show(titan_env, "corner-bakery")
    assert first["status"] == "published" and first["build"] == 1
    page = httpx.get(first["url"], trust_env=False).text
    assert "Bread at dawn" in page

    # A bad edit names the field and writes nothing.
    bad = titan(titan_env, "project", "edit", "corner-bakery", "--set", 'features=[""]')
    assert bad.returncode == 2
    assert "spec.features[0]" in bad.stderr, bad.stderr
    unknown = titan(titan_env, "project", "edit", "corner-bakery", "--set", "persona.shoe=42")
    assert unknown.returncode == 2 and "spec.persona" in unknown.stderr, unknown.stderr
    assert _show(titan_env, "corner-bakery")["spec"] == first["spec"]

    edited = titan(titan_env, "project", "edit", "corner-bakery", "--set",
                   "description=Cakes all day", "--set", 'features=["menu", "cakes"]',
                   "--set", "persona.name=Ada")
    assert edited.returncode == 0, edited.stderr
    assert "spec of corner-bakery saved" in edited.stdout
    assert "titan project rebuild corner-bakery" in edited.stdout
    spec = _show(titan_env, "corner-bakery")["spec"]
    assert spec["description"] == "Cakes all day" and spec["features"] == ["menu", "cakes"]
    assert spec["persona"]["name"] == "Ada"

    rebuilt = titan(titan_env, "project", "rebuild", "corner-bakery")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "build 2 queued" in rebuilt.stdout
    queued = _show(titan_env, "corner-bakery")
    assert queued["status"] == "queued" and queued["build"] == 2
    # Rebuilding while it is queued is refused (it would run twice).
    again = titan(titan_env, "project", "rebuild", "corner-bakery")
    assert again.returncode == 1 and "queued" in again.stderr, again.stderr

    _build_all(titan_env)
    second = _show(titan_env, "corner-bakery")
    assert second["status"] == "published" and second["build"] == 2
    page = httpx.get(second["url"], trust_env=False).text
    assert "Cakes all day" in page and "Bread at dawn" not in page
    # A new pipeline run: ten jobs now, the first five from build 1 untouched.
    kinds = [j["kind"] for j in second["jobs"]]
    assert kinds == ["scaffold", "build", "deploy", "verify", "publish"] * 2
    assert [j["id"] for j in second["jobs"][:5]] == [j["id"] for j in first["jobs"]]
    assert all(j["status"] == "succeeded" for j in second["jobs"])
    # Both builds' artifacts, the first build's files kept aside with the spec that built them.
    builds = {a["build"] for a in second["artifacts"]}
    assert builds == {1, 2}
    old_archive = next(a for a in second["artifacts"] if a["build"] == 1
                       and a["kind"] == "archive")
    old_site = next(a for a in second["artifacts"] if a["build"] == 1 and a["kind"] == "site")
    kept = Path(titan_env["TITAN_HOME"]) / "builds" / "corner-bakery" / "1"
    assert Path(old_archive["path"]).parent == kept and Path(old_archive["path"]).is_file()
    assert "Bread at dawn" in (Path(old_site["path"]) / "index.html").read_text()
    old_spec = next(a for a in second["artifacts"] if a["name"] == "spec.json")
    assert old_spec["build"] == 1
    assert json.loads(Path(old_spec["path"]).read_text())["description"] == "Bread at dawn"
    shown = titan(titan_env, "project", "show", "corner-bakery").stdout
    assert "build:    2" in shown and "build 1  archive" in shown and "build 2  site" in shown
    # The plan follows the new spec's features and is ticked again by build 2.
    plan = titan(titan_env, "project", "plan", "corner-bakery", "--json")
    assert "cakes" in plan.stdout.lower(), plan.stdout

    # Deleting the project removes the kept builds too.
    deleted = titan(titan_env, "project", "delete", "corner-bakery")
    assert deleted.returncode == 0, deleted.stderr
    assert not kept.exists()


def test_api_patches_the_spec_and_rebuilds(titan_env: dict) -> None:
    with TitanApiProcess(titan_env) as api, httpx.Client(
            base_url=api.url, trust_env=False, timeout=30, headers=JSON) as http:
        project = http.post("/api/projects", json={
            "name": "Api Bakery", "spec": {"description": "Rolls", "features": ["menu"]}}).json()
        pid = project["id"]
        # Running (its scaffold is queued): the spec cannot change under it.
        busy = http.patch(f"/api/projects/{pid}", json={"spec": {"description": "Buns"}})
        assert busy.status_code == 409, busy.text
        assert http.post(f"/api/projects/{pid}/rebuild").status_code == 409
        _build_all(titan_env)

        refused = http.patch(f"/api/projects/{pid}", json={"spec": {"features": "menu"}})
        assert refused.status_code == 422, refused.text
        assert "spec.features" in refused.text
        null = http.patch(f"/api/projects/{pid}", json={"spec": None})
        assert null.status_code == 422 and "spec" in null.text

        # A JSON merge patch: description replaced, persona added, features kept.
        patched = http.patch(f"/api/projects/{pid}", json={
            "spec": {"description": "Buns", "persona": {"name": "Bo"}}})
        assert patched.status_code == 200, patched.text
        spec = patched.json()["spec"]
        assert spec["description"] == "Buns" and spec["features"] == ["menu"]
        assert spec["persona"]["name"] == "Bo"

        rebuilt = http.post(f"/api/projects/{pid}/rebuild")
        assert rebuilt.status_code == 202, rebuilt.text
        assert rebuilt.json()["build"] == 2 and rebuilt.json()["project"]["status"] == "queued"
        assert http.post("/api/projects/999999/rebuild").status_code == 404

        listed = http.get("/api/projects", params={"search": "api bak", "sort": "name",
                                                   "order": "asc"}).json()
        assert [p["name"] for p in listed["items"]] == ["Api Bakery"]
        assert http.get("/api/projects", params={"search": "nothing-like-it"}).json()[
            "total"] == 0
        assert http.get("/api/projects", params={"sort": "color"}).status_code == 422
