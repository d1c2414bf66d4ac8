"""The github-pages deploy target against the loopback fake of GitHub's Git Data API
(tests/ops/fakes.py), which also serves the gh-pages branch as Pages would."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import titan
from tests.deploy.conftest import database_text, environment
from tests.ops.fakes import FakeGitHub
from worker.config import reload_settings
from worker.deploy import Deployment, choose
from worker.deploy.github_pages import TARGET
from worker.errors import InvalidInput, PermanentError

TOKEN = "gh-test-token"


def test_site_is_pushed_to_gh_pages_verified_and_delete_removes_the_branch(
        titan_env: dict, db_url: str) -> None:
    with FakeGitHub("octo/brochure", {"README.md": "the source"}) as github:
        env = environment(titan_env, GITHUB_TOKEN=TOKEN, GITHUB_API_URL=github.url)
        created = titan(env, "project", "create", "Pages Site", "--feature", "gallery",
                        "--target", "github-pages", "--target-option", "repo=octo/brochure",
                        "--target-option", f"url={github.url}/pages/")
        assert created.returncode == 0, created.stderr
        worker = titan(env, "worker", "--exit-when-idle")
        assert worker.returncode == 0, worker.stdout[-2000:] + worker.stderr[-2000:]

        project = json.loads(titan(env, "project", "show", "pages-site", "--json").stdout)
        assert project["status"] == "published", project["lastError"]
        assert project["url"] == f"{github.url}/pages/"
        files = github.files_at("heads/gh-pages")
        assert {"index.html", "about.html", "assets/style.css", "assets/logo.svg",
                "features/gallery.html", ".nojekyll"} <= set(files)
        assert "Pages Site" in files["index.html"]
        assert github.files_at("heads/main") == {"README.md": "the source"}  # untouched
        assert any(r.startswith("POST /repos/octo/brochure/git/blobs") for r in github.requests)
        page = httpx.get(project["url"], trust_env=False)
        assert page.status_code == 200 and "Pages Site" in page.text
        shown = titan(env, "project", "show", "pages-site").stdout
        assert (f"deploy:   github-pages (branch=gh-pages, repo=octo/brochure, "
                f"url={github.url}/pages/)") in shown

        secrets_seen = database_text(db_url) + worker.stdout + worker.stderr
        assert TOKEN not in secrets_seen

        deleted = titan(env, "project", "delete", "pages-site", "--json")
        assert deleted.returncode == 0, deleted.stderr
        assert json.loads(deleted.stdout)["undeployed"] == [
            "deleted the gh-pages branch of octo/brochure (its Pages site)"]
        assert "heads/gh-pages" not in github.refs
        assert "heads/main" in github.refs
        assert httpx.get(project["url"], trust_env=False).status_code == 404


def _site(folder: Path, pages: dict[str, str]) -> Path:
    for name, html in pages.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(html, encoding="utf-8")
    return folder


def test_a_redeploy_replaces_the_site_on_top_of_the_branch_history(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeGitHub("octo/brochure", {"README.md": "x"}) as github:
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_API_URL", github.url)
        settings = reload_settings()
        _, config = choose(type("T", (), {"deploy_targets": ("github-pages",)}), "brochure",
                           "github-pages", {"repo": "octo/brochure"})
        assert config["url"] == "https://octo.github.io/brochure/"  # Pages' own address
        deployment = Deployment("brochure", "Brochure", config, settings, log=lambda m: None)

        TARGET.deploy(_site(tmp_path / "v1", {"index.html": "one", "old.html": "gone soon",
                                              "logo.png": "\x89PNG"}), deployment)
        first = github.refs["heads/gh-pages"]
        TARGET.deploy(_site(tmp_path / "v2", {"index.html": "two"}), deployment)
        second = github.refs["heads/gh-pages"]
        assert github.files_at(second) == {"index.html": "two", ".nojekyll": ""}
        assert github.commits[second]["parents"] == [first]
        TARGET.deploy(tmp_path / "v2", deployment)  # nothing changed: no new commit
        assert github.refs["heads/gh-pages"] == second
        reload_settings()


def test_bad_options_and_a_missing_token_are_clear_errors(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    static = type("T", (), {"deploy_targets": ("local", "github-pages")})
    with pytest.raises(InvalidInput, match="owner/name") as bad:
        choose(static, "x", "github-pages", {"repo": "not a repo"})
    assert bad.value.field == "deployConfig.repo"
    with pytest.raises(InvalidInput, match="not an option") as unknown:
        choose(static, "x", "github-pages", {"repo": "o/r", "token": "ghp_secret"})
    assert unknown.value.field == "deployConfig.token"
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.setenv("TITAN_HOME", str(tmp_path))
    _, config = choose(static, "x", "github-pages", {"repo": "o/r"})
    with pytest.raises(PermanentError, match="GITHUB_TOKEN"):
        TARGET.deploy(_site(tmp_path / "s", {"index.html": "x"}),
                      Deployment("x", "X", config, reload_settings()))
    reload_settings()


async def test_delete_says_what_it_left_up_when_github_cannot_be_reached(
        titan_env: dict, db, monkeypatch: pytest.MonkeyPatch) -> None:
    from worker.services.projects import ProjectService
    from worker.templatekit import free_port

    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{free_port()}")  # nobody listens
    service = ProjectService.from_settings(db, reload_settings())
    await service.create({"name": "Unreachable", "deployTarget": "github-pages",
                          "deployConfig": {"repo": "octo/unreachable"}})
    deleted = await service.delete("unreachable")
    assert deleted.undeployed == []
    assert len(deleted.left) == 1 and deleted.left[0].startswith("the github-pages deployment")
    assert "left running the github-pages deployment" in deleted.describe()
    assert TOKEN not in deleted.describe()
    assert await service.count() == 0  # the project is gone all the same
    reload_settings()
