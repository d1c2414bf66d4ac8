"""``render``: trigger a Render service's deploy hook, then verify the service's URL.

Render builds a service from its own source (the repository linked to it), so this target
suits a Render static site whose repository holds the site (e.g. the branch the github-pages
target pushes). Options: ``url`` (the service's public URL) and ``hook_env`` (the *name* of
the environment variable holding the deploy hook URL, default RENDER_DEPLOY_HOOK_<SLUG>). The
hook URL embeds its key, so it is read from the worker's environment (or TITAN_HOME's
settings.json) at deploy time and never stored, logged or shown. ``delete`` cannot remove a
Render service (a hook only deploys): the service is left running, and ``delete`` says so.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from worker.deploy.base import Deployment, DeployTarget, Option, Teardown, check_http_url
from worker.errors import InvalidInput, PermanentError

_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,100}$")


def default_hook_env(slug: str) -> str:
    return "RENDER_DEPLOY_HOOK_" + re.sub(r"[^A-Z0-9]+", "_", slug.upper()).strip("_")


class RenderTarget(DeployTarget):
    name = "render"
    title = "A Render service (its deploy hook)"
    options = (
        Option("url", "the service's public URL (verify asks it)", True),
        Option("hook_env", "the environment variable holding the deploy hook URL "
               "(default RENDER_DEPLOY_HOOK_<SLUG>)"),
    )
    default_verify_timeout = 600.0

    def normalize(self, options: dict[str, Any], slug: str) -> dict[str, Any]:
        if "hook" in options:  # the URL itself: it embeds the key, so it must not be stored
            raise InvalidInput("deployConfig.hook", "a deploy hook URL embeds its key and is "
                               "never stored: put it in an environment variable and name that "
                               "variable with hook_env")
        return super().normalize(options, slug)

    def check(self, config: dict[str, Any], slug: str) -> dict[str, Any]:
        hook_env = str(config.get("hook_env", default_hook_env(slug)))
        if not _ENV_NAME.match(hook_env):
            raise InvalidInput("deployConfig.hook_env",
                               f"must be an environment variable name (A-Z, 0-9, _), "
                               f"not {hook_env!r}")
        return {**config, "url": check_http_url(config["url"], "url"), "hook_env": hook_env}

    def deploy(self, site: Path, deployment: Deployment) -> str:
        import httpx

        hook = _hook(deployment)
        safe = _safe(hook)
        try:
            response = httpx.post(hook, timeout=30.0, trust_env=False)
        except httpx.HTTPError as exc:  # its text may hold the URL: name the safe part only
            raise RuntimeError(f"Render deploy hook {safe}: {type(exc).__name__}") from None
        if response.status_code >= 300:
            error = f"Render deploy hook {safe} answered {response.status_code}"
            if response.status_code in (401, 403, 404):
                raise PermanentError(f"{error} (check {deployment.config['hook_env']})")
            raise RuntimeError(error)
        try:
            deploy_id = response.json().get("deploy", {}).get("id", "")
        except (ValueError, AttributeError):
            deploy_id = ""
        deployment.log(f"Render accepted the deploy{f' {deploy_id}' if deploy_id else ''} "
                       f"({safe})")
        return str(deployment.config["url"])

    def teardown(self, deployment: Deployment) -> Teardown:
        return Teardown(left=[f"the Render service at {deployment.config['url']} (a deploy "
                              "hook cannot delete it; remove it in Render's dashboard)"])


def _hook(deployment: Deployment) -> str:
    name = deployment.config["hook_env"]
    hook = os.environ.get(name, "").strip()
    if not hook:
        try:
            saved = json.loads((deployment.settings.titan_home / "settings.json")
                               .read_text(encoding="utf-8"))
            hook = str(saved.get(name) or "").strip() if isinstance(saved, dict) else ""
        except (OSError, ValueError):
            hook = ""
    if not hook:
        raise PermanentError(f"the render target needs {name} set to the service's deploy hook "
                             "URL (Render: Settings -> Deploy Hook)")
    if urlsplit(hook).scheme not in ("http", "https"):
        raise PermanentError(f"{name} does not hold an http(s) URL")
    _keep_out_of_logs(hook)
    return hook


def _keep_out_of_logs(hook: str) -> None:
    """The log scrubber knows the configured secrets; a project's hook is read only now, so it
    (and its key) join them: a library's error text that quotes the URL is written as ***."""
    from worker.logs import scrub

    keys = parse_qs(urlsplit(hook).query).get("key", [])
    new = [s for s in (hook, *keys) if len(s) >= 4 and s not in scrub.secrets]
    if new:
        scrub.configure([*scrub.secrets, *new])


def _safe(hook: str) -> str:
    """The hook without its key (the query) and without the service id's tail."""
    parts = urlsplit(hook)
    return f"{parts.scheme}://{parts.netloc}{parts.path.rsplit('/', 1)[0]}/…"


TARGET = RenderTarget()
