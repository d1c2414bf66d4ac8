"""The render deploy target against a loopback fake of Render's deploy hook and service."""

from __future__ import annotations

import json

from tests.conftest import titan
from tests.deploy.conftest import database_text, environment
from tests.deploy.fakes import FakeRender

KEY = "rnd_secretkey123"
SITE = {"index.html": "<h1>Render Site</h1>", "about.html": "<p>about</p>",
        "assets/style.css": "body { margin: 0 }"}


def test_the_hook_is_called_verify_waits_for_the_service_and_the_key_stays_secret(
        titan_env: dict, db_url: str) -> None:
    with FakeRender("srv-d1x", KEY, SITE, build_polls=2) as render:
        env = environment(titan_env, RENDER_DEPLOY_HOOK_RENDER_SITE=render.hook)
        created = titan(env, "project", "create", "Render Site", "--target", "render",
                        "--target-option", f"url={render.service_url}",
                        "--target-option", "verify_timeout=60", "--json")
        assert created.returncode == 0, created.stderr
        assert json.loads(created.stdout)["deployConfig"] == {
            "url": render.service_url, "hook_env": "RENDER_DEPLOY_HOOK_RENDER_SITE",
            "verify_timeout": 60.0}
        worker = titan(env, "worker", "--exit-when-idle")
        assert worker.returncode == 0, worker.stdout[-2000:] + worker.stderr[-2000:]

        project = json.loads(titan(env, "project", "show", "render-site", "--json").stdout)
        assert project["status"] == "published", project["lastError"]
        assert project["url"] == render.service_url
        assert render.deploys == ["dep-1"]
        assert render.polls_since_deploy >= 2  # verify asked again while the deploy built
        seen = database_text(db_url) + worker.stdout + worker.stderr
        assert KEY not in seen and render.hook not in seen
        assert "Render accepted the deploy dep-1" in seen

        deleted = titan(env, "project", "delete", "render-site")
        assert deleted.returncode == 0, deleted.stderr
        assert f"left running the Render service at {render.service_url}" in deleted.stdout
        assert render.deploys == ["dep-1"]


def test_a_missing_hook_fails_the_deploy_saying_which_variable_to_set(
        titan_env: dict) -> None:
    created = titan(titan_env, "project", "create", "No Hook", "--target", "render",
                    "--target-option", "url=https://no-hook.onrender.com/")
    assert created.returncode == 0, created.stderr
    titan(titan_env, "worker", "--exit-when-idle")
    project = json.loads(titan(titan_env, "project", "show", "no-hook", "--json").stdout)
    assert project["status"] == "failed"
    assert "RENDER_DEPLOY_HOOK_NO_HOOK" in project["lastError"]
    assert project["lastError"].startswith("deploy failed")
