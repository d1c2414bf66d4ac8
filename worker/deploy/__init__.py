"""Deploy targets: where a project's deploy step puts its site, and how verify and ``delete``
reach it there (issue 19, part 7). One module per target:

- ``local``: the loopback site host on this machine (the default, as before)
- ``folder``: a web root another web server serves (``root``, ``url``)
- ``github-pages``: a repository's gh-pages branch, pushed with PyGithub (``repo``, ...)
- ``render``: a Render service's deploy hook (``url``, ``hook_env``)

A project stores its target's name and options (``projects.deploy_target``/``deploy_config``,
never a token). ``choose`` checks a choice when the project is created (before anything is
queued); templates call ``deploy_site``/``verify_site``; ``ProjectService.delete`` calls
``teardown``. Which targets a template supports is its ``deploy_targets`` attribute: static
sites all four, services and packages only ``local``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from worker.deploy.base import Deployment, DeployTarget, Option, Teardown
from worker.deploy.folder import TARGET as FOLDER
from worker.deploy.github_pages import TARGET as GITHUB_PAGES
from worker.deploy.local import TARGET as LOCAL
from worker.deploy.render import TARGET as RENDER
from worker.errors import InvalidInput

TARGETS: dict[str, DeployTarget] = {t.name: t for t in (LOCAL, FOLDER, GITHUB_PAGES, RENDER)}
DEFAULT_TARGET = "local"

__all__ = ["DEFAULT_TARGET", "TARGETS", "DeployTarget", "Deployment", "Option", "Teardown",
           "choose", "deploy_site", "get_target", "parse_options", "teardown", "verify_site"]


def get_target(name: str, field: str = "deployTarget") -> DeployTarget:
    try:
        return TARGETS[name]
    except KeyError:
        raise InvalidInput(field, f"{name!r} is not a deploy target (one of: "
                           f"{', '.join(TARGETS)})") from None


def parse_options(pairs: Iterable[str], field: str = "deployConfig") -> dict[str, str]:
    """``["root=/srv/www", "url=http://..."]`` (the CLI's --target-option, the comma-separated
    TITAN_DEPLOY_OPTIONS) as a dict; a pair without ``=`` is InvalidInput."""
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(field, f"{pair!r} is not NAME=VALUE")
        options[key.strip()] = value.strip()
    return options


def choose(template: Any, slug: str, target: str | None, options: dict[str, Any] | None,
           settings: Any = None) -> tuple[str, dict[str, Any]]:
    """The target and stored options for a new project, or InvalidInput naming the field.

    No target named: TITAN_DEPLOY_TARGET (with TITAN_DEPLOY_OPTIONS) when the template supports
    it, else ``local``. A target the template does not support is refused, not replaced.
    """
    supported: tuple[str, ...] = tuple(getattr(template, "deploy_targets", (DEFAULT_TARGET,)))
    if target is None and options:
        raise InvalidInput("deployConfig", "options need a target (deployTarget) too")
    if target is None:
        default = getattr(settings, "deploy_target", None) or DEFAULT_TARGET
        get_target(default, "TITAN_DEPLOY_TARGET")  # a typo there is named as such
        if default not in supported:  # a default for sites does not apply to a service
            return DEFAULT_TARGET, {}
        target = default
        options = parse_options(
            (p for p in str(getattr(settings, "deploy_options", "") or "").split(",")
             if p.strip()), "TITAN_DEPLOY_OPTIONS")
    chosen = get_target(target)
    if target not in supported:
        raise InvalidInput("deployTarget", f"{getattr(template, 'ref', 'this template')} "
                           f"deploys only to: {', '.join(supported)} ({target} serves static "
                           "sites; a service or package runs on this machine)")
    if not isinstance(options or {}, dict):
        raise InvalidInput("deployConfig", "must be an object of option: value")
    return target, chosen.normalize(dict(options or {}), slug)


def _deployment(ctx: Any) -> tuple[DeployTarget, Deployment]:
    target = get_target(getattr(ctx, "deploy_target", DEFAULT_TARGET))
    return target, Deployment(ctx.project.slug, ctx.project.name,
                              dict(getattr(ctx, "deploy_config", {}) or {}), ctx.settings,
                              ctx.log)


def deploy_site(ctx: Any, site: Path) -> str:
    """A template's deploy step: put the built ``site`` folder on the project's target."""
    target, deployment = _deployment(ctx)
    return target.deploy(site, deployment)


def verify_site(ctx: Any, must_contain: str, also: list[str] | None = None) -> str:
    """A template's verify step: GET the deployed URL (200, mentions ``must_contain``) and the
    ``also`` paths beside it; a remote target keeps asking while it publishes."""
    from worker.templatekit.links import verify_page

    if not ctx.url:
        raise RuntimeError("nothing deployed to verify (no URL)")
    target, deployment = _deployment(ctx)
    return target.verify(ctx.url, deployment, lambda url: verify_page(url, must_contain, also))


def teardown(settings: Any, slug: str, name: str, target: str, config: dict[str, Any]
             ) -> Teardown:
    """Blocking. Take a project's deployment down where its target allows (``local`` is
    handled by worker/services/cleanup.py with the rest of this machine's files)."""
    chosen = TARGETS.get(target)
    if chosen is None:
        return Teardown(left=[f"a deployment on an unknown target {target!r}"])
    return chosen.teardown(Deployment(slug, name, dict(config), settings))
