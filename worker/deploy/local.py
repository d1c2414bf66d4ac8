"""``local``: the loopback site host (worker/sitehost.py), Titan's default. The site is copied
to OUTPUT_DIR/<slug>/ and served at http://127.0.0.1:<port>/<slug>/ while this machine runs;
``delete`` stops it through worker/services/cleanup.py as before."""

from __future__ import annotations

from pathlib import Path

from worker.deploy.base import Deployment, DeployTarget
from worker.templatekit.files import serve_and_url


class LocalTarget(DeployTarget):
    name = "local"
    title = "This machine (loopback site host)"

    def deploy(self, site: Path, deployment: Deployment) -> str:
        settings = deployment.settings
        return serve_and_url(site, settings.projects_dir / deployment.slug, deployment.slug,
                             settings)


TARGET = LocalTarget()
