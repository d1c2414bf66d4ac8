"""Choosing a deploy target when a project is created: the CLI, the API and the environment
defaults; an invalid choice is refused, naming the field, before anything is stored or queued."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.api.server import ApiServer
from tests.conftest import titan
from worker.config import reload_settings
from worker.db.engine import Database
from worker.errors import InvalidInput
from worker.services.projects import ProjectService

INVALID_CLI = [
    (["--target", "ftp"], "'ftp' is not a deploy target"),
    (["--target", "folder"], "deployConfig.root: the folder target needs it"),
    (["--target", "folder", "--target-option", "root=www", "--target-option", "url=http://x/"],
     "must be an absolute path"),
    (["--target", "folder", "--target-option", "root=/srv/www", "--target-option",
      "url=ftp://x/"], "must be an http:// or https:// URL"),
    (["--target", "folder", "--target-option", "root"], "'root' is not NAME=VALUE"),
    (["--target-option", "root=/srv/www"], "options need a target"),
    (["--target", "render", "--target-option",
      "hook=https://api.render.com/deploy/srv-1?key=rnd_topsecret"], "never stored"),
    (["--template", "fastapi/service", "--target", "folder", "--target-option",
      "root=/srv/www", "--target-option", "url=http://x/"],
     "fastapi/service deploys only to: local"),
]


def test_the_cli_refuses_invalid_targets_before_anything_is_queued(titan_env: dict) -> None:
    for extra, message in INVALID_CLI:
        result = titan(titan_env, "project", "create", "Bad Target", *extra)
        assert result.returncode == 2, (extra, result.stdout, result.stderr)
        assert message in result.stderr, (extra, result.stderr)
        assert "rnd_topsecret" not in result.stderr + result.stdout
    listed = titan(titan_env, "project", "list", "--json")
    assert json.loads(listed.stdout) == []


INVALID_API = [
    ({"deployTarget": "ftp"}, "deployTarget"),
    ({"deployTarget": "folder"}, "deployConfig.root"),
    ({"deployTarget": "folder", "deployConfig": {"root": "/srv/www", "url": "http://x/",
                                                 "color": "red"}}, "deployConfig.color"),
    ({"deployTarget": "github-pages", "deployConfig": {"repo": "nope"}}, "deployConfig.repo"),
    ({"deployTarget": "render", "deployConfig": {"url": "https://s.onrender.com",
                                                 "hook_env": "lower-case"}},
     "deployConfig.hook_env"),
    ({"deployTarget": "folder", "deployConfig": {"root": "/srv/www", "url": "http://x/"},
      "templateRef": "python/cli", "spec": {"description": "x"}}, "deployTarget"),
    ({"deployConfig": {"root": "/srv/www"}}, "deployConfig"),
]


def test_the_api_answers_422_naming_the_field_and_stores_a_valid_choice(
        titan_env: dict, tmp_path: Path) -> None:
    with ApiServer(reload_settings()) as server, httpx.Client(
            base_url=server.url, trust_env=False, timeout=30) as client:
        for extra, field in INVALID_API:
            response = client.post("/api/projects", json={"name": "Bad Target", **extra})
            assert response.status_code == 422, (extra, response.text)
            assert response.json()["field"] == field, (extra, response.text)
        assert client.get("/api/projects").json()["total"] == 0
        created = client.post("/api/projects", json={
            "name": "Good Target", "deployTarget": "folder",
            "deployConfig": {"root": str(tmp_path / "www"), "url": "https://example.org/site"}})
        assert created.status_code == 201, created.text
        assert created.json()["deployTarget"] == "folder"
        assert created.json()["deployConfig"] == {"root": str(tmp_path / "www"),
                                                  "url": "https://example.org/site/"}


async def test_environment_defaults_apply_to_static_sites_only(
        titan_env: dict, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TITAN_DEPLOY_TARGET", "folder")
    monkeypatch.setenv("TITAN_DEPLOY_OPTIONS", "root=/srv/www, url=https://example.org/")
    service = ProjectService.from_settings(db, reload_settings())
    site = await service.create({"name": "Default Site"})
    assert (site.deploy_target, site.deploy_config) == (
        "folder", {"root": "/srv/www", "url": "https://example.org/"})
    app = await service.create({"name": "Default App", "templateRef": "python/cli",
                                "spec": {"description": "a tool"}})
    assert (app.deploy_target, app.deploy_config) == ("local", {})
    monkeypatch.delenv("TITAN_DEPLOY_TARGET")
    monkeypatch.delenv("TITAN_DEPLOY_OPTIONS")
    plain = await ProjectService.from_settings(db, reload_settings()).create({"name": "Plain"})
    assert (plain.deploy_target, plain.deploy_config) == ("local", {})
    monkeypatch.setenv("TITAN_DEPLOY_TARGET", "s3")
    with pytest.raises(InvalidInput, match="'s3' is not a deploy target") as typo:
        await ProjectService.from_settings(db, reload_settings()).create({"name": "Typo"})
    assert typo.value.field == "TITAN_DEPLOY_TARGET"
    reload_settings()
