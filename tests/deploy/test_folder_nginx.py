"""The folder deploy target, served by a real nginx from Debian: create a persona/basic project
with ``--target folder``, let a real worker build and deploy it into the web root, GET it from
nginx, then ``delete`` removes it from the web root."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.conftest import titan
from tests.deploy.nginx import NGINX, Nginx, nginx_available


def test_folder_deploy_is_served_by_nginx_and_delete_removes_it(titan_env: dict,
                                                                 web_root: Path) -> None:
    assert nginx_available(), f"{NGINX} is missing: install nginx (scripts/debian-packages.txt)"
    with Nginx(web_root) as nginx:
        created = titan(titan_env, "project", "create", "Folder Site", "--description",
                        "A site nginx serves", "--feature", "pricing", "--target", "folder",
                        "--target-option", f"root={web_root}", "--target-option",
                        f"url={nginx.url}", "--json")
        assert created.returncode == 0, created.stderr
        assert json.loads(created.stdout)["deployConfig"] == {"root": str(web_root),
                                                              "url": nginx.url}

        worker = titan(titan_env, "worker", "--exit-when-idle")
        assert worker.returncode == 0, worker.stdout[-2000:] + worker.stderr[-2000:]
        project = json.loads(titan(titan_env, "project", "show", "folder-site",
                                   "--json").stdout)
        assert project["status"] == "published", project["lastError"]
        assert project["url"] == f"{nginx.url}folder-site/"
        assert project["deployTarget"] == "folder"

        page = httpx.get(project["url"], trust_env=False)
        assert page.status_code == 200 and "Folder Site" in page.text
        assert page.headers["server"].startswith("nginx")  # nginx served it, not Titan's host
        css = httpx.get(f"{project['url']}assets/style.css", trust_env=False)
        assert css.status_code == 200 and css.headers["content-type"] == "text/css"
        assert httpx.get(f"{project['url']}features/pricing.html",
                         trust_env=False).status_code == 200
        # The site lives in the web root; OUTPUT_DIR keeps only the published archive.
        assert (web_root / "folder-site" / "index.html").is_file()
        assert not (Path(project["outputDir"]) / "index.html").exists()

        deleted = titan(titan_env, "project", "delete", "folder-site", "--json")
        assert deleted.returncode == 0, deleted.stderr
        assert json.loads(deleted.stdout)["undeployed"] == [
            f"removed {web_root / 'folder-site'}"]
        assert not (web_root / "folder-site").exists()
        assert list(web_root.iterdir()) == []
        assert httpx.get(project["url"], trust_env=False).status_code == 404
