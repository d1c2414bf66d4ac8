"""``folder``: copy the site into a web root another web server (nginx, Apache, Caddy) serves.

Options: ``root`` (an absolute folder) and ``url`` (the public URL that folder is served at).
The site goes to ``ROOT/<slug>/`` and is verified at ``URL<slug>/``; ``delete`` removes
``ROOT/<slug>/``. The copy is atomic: a staging folder beside it replaces the old site in one
rename, so the web server never serves half a site.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from worker.deploy.base import Deployment, DeployTarget, Option, Teardown, check_http_url
from worker.errors import InvalidInput
from worker.templatekit.files import copy_to_output, replace_dir


class FolderTarget(DeployTarget):
    name = "folder"
    title = "A web root served by your web server"
    options = (
        Option("root", "the web root folder (absolute path) the site is copied into", True),
        Option("url", "the public base URL that web root is served at", True),
    )

    def check(self, config: dict[str, Any], slug: str) -> dict[str, Any]:
        root = Path(str(config["root"])).expanduser()
        if not root.is_absolute():
            raise InvalidInput("deployConfig.root", f"must be an absolute path, not {root}")
        try:
            not_a_folder = root.exists() and not root.is_dir()
        except OSError as exc:  # a name too long for the file system, ...
            raise InvalidInput("deployConfig.root", f"cannot be used: {exc.strerror}") from None
        if not_a_folder:
            raise InvalidInput("deployConfig.root", f"{root} exists and is not a folder")
        return {**config, "root": str(root), "url": check_http_url(config["url"], "url")}

    def site_dir(self, deployment: Deployment) -> Path:
        root = Path(deployment.config["root"])
        target = root / deployment.slug
        # A slug never holds a separator; this guards a corrupted row from escaping the root.
        if target.parent != root or not deployment.slug:
            raise RuntimeError(f"refusing to deploy {deployment.slug!r} outside {root}")
        return target

    def deploy(self, site: Path, deployment: Deployment) -> str:
        if not (site / "index.html").is_file():
            raise RuntimeError(f"nothing to deploy: {site}/index.html is missing (build first)")
        target = self.site_dir(deployment)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.deploy-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        copy_to_output(site, staging, target.parent)
        replace_dir(staging, target)
        deployment.log(f"copied the site into {target}")
        return urljoin(deployment.config["url"], f"{deployment.slug}/")

    def teardown(self, deployment: Deployment) -> Teardown:
        target = self.site_dir(deployment)
        if not target.exists():
            return Teardown()
        shutil.rmtree(target)
        for leftover in target.parent.glob(f".{target.name}.deploy*"):
            shutil.rmtree(leftover, ignore_errors=True)
        return Teardown(done=[f"removed {target}"])


TARGET = FolderTarget()
