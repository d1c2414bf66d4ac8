"""``github-pages``: push the site to a repository's ``gh-pages`` branch through PyGithub and
the Git Data API (blobs -> tree -> commit -> ref), so no clone or ``git push`` is needed.

Options: ``repo`` (owner/name), ``branch`` (default gh-pages), ``url`` (the Pages URL, default
``https://OWNER.github.io/NAME/``). The token is GITHUB_TOKEN (never stored with the project);
GITHUB_API_URL points PyGithub at GitHub Enterprise or a test server. Each deploy commits the
whole site as the branch's tree (files the site no longer has disappear) on top of the branch's
previous commit, and skips the commit when nothing changed. ``delete`` deletes the branch,
which takes the Pages site down. GitHub publishes a push within a minute or so: verify keeps
asking the Pages URL (``verify_timeout``, default 600 s).
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

from worker.deploy.base import Deployment, DeployTarget, Option, Teardown, check_http_url
from worker.errors import InvalidInput, PermanentError

_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
_BRANCH = re.compile(r"^(?!.*\.\.)(?!/)(?!.*/$)[A-Za-z0-9._/-]{1,200}$")


class GitHubPagesTarget(DeployTarget):
    name = "github-pages"
    title = "GitHub Pages (the repository's gh-pages branch)"
    options = (
        Option("repo", "the GitHub repository as owner/name", True),
        Option("branch", "the branch Pages serves (default gh-pages)"),
        Option("url", "the Pages URL (default https://OWNER.github.io/NAME/)"),
    )
    default_verify_timeout = 600.0

    def check(self, config: dict[str, Any], slug: str) -> dict[str, Any]:
        repo = str(config["repo"])
        if not _REPO.match(repo):
            raise InvalidInput("deployConfig.repo", f"must look like owner/name, not {repo!r}")
        branch = str(config.get("branch", "gh-pages"))
        if not _BRANCH.match(branch):
            raise InvalidInput("deployConfig.branch", f"{branch!r} is not a branch name")
        owner, name = repo.split("/")
        default_url = (f"https://{owner.lower()}.github.io/"
                       if name.lower() == f"{owner.lower()}.github.io"
                       else f"https://{owner.lower()}.github.io/{name}/")
        url = check_http_url(config.get("url", default_url), "url")
        return {**config, "repo": repo, "branch": branch, "url": url}

    def _repo(self, deployment: Deployment) -> Any:
        from github import Auth, Github, GithubException

        settings = deployment.settings
        if settings.github_token is None:
            raise PermanentError("the github-pages target needs GITHUB_TOKEN (a token that may "
                                 f"push to {deployment.config['repo']})")
        client = Github(auth=Auth.Token(settings.github_token.get_secret_value()),
                        base_url=settings.github_api_url.rstrip("/"), retry=None, timeout=30)
        try:
            return client.get_repo(deployment.config["repo"])
        except GithubException as exc:
            raise _error(f"cannot open {deployment.config['repo']}", exc) from None

    def deploy(self, site: Path, deployment: Deployment) -> str:
        from github import GithubException, InputGitTreeElement

        if not (site / "index.html").is_file():
            raise RuntimeError(f"nothing to deploy: {site}/index.html is missing (build first)")
        repo = self._repo(deployment)
        branch = deployment.config["branch"]
        try:
            ref, parent = _branch_head(repo, branch)
            elements = []
            # .nojekyll: Pages serves the files as they are (no Jekyll build, no _-folders lost).
            files = {**{p.relative_to(site).as_posix(): p.read_bytes()
                        for p in sorted(site.rglob("*")) if p.is_file()}, ".nojekyll": b""}
            for path, content in files.items():
                blob = repo.create_git_blob(base64.b64encode(content).decode("ascii"), "base64")
                elements.append(InputGitTreeElement(path, "100644", "blob", sha=blob.sha))
            tree = repo.create_git_tree(elements)  # no base tree: exactly the site's files
            if parent is not None and parent.tree.sha == tree.sha:
                deployment.log(f"{branch} of {deployment.config['repo']} already holds this site")
            else:
                commit = repo.create_git_commit(f"Deploy {deployment.name} (Titan)", tree,
                                                [parent] if parent is not None else [])
                if ref is None:
                    repo.create_git_ref(f"refs/heads/{branch}", commit.sha)
                else:
                    ref.edit(commit.sha, force=True)
                deployment.log(f"pushed {len(files)} files to {branch} of "
                               f"{deployment.config['repo']} as {commit.sha[:12]}")
        except GithubException as exc:
            raise _error(f"could not push the site to {branch}", exc) from None
        return str(deployment.config["url"])

    def teardown(self, deployment: Deployment) -> Teardown:
        from github import GithubException

        repo = self._repo(deployment)
        branch, name = deployment.config["branch"], deployment.config["repo"]
        try:
            ref, _ = _branch_head(repo, branch)
            if ref is None:
                return Teardown()
            ref.delete()
        except GithubException as exc:
            raise _error(f"could not delete {branch}", exc) from None
        return Teardown(done=[f"deleted the {branch} branch of {name} (its Pages site)"])


def _branch_head(repo: Any, branch: str) -> tuple[Any, Any]:
    """The branch's ref and head commit, or (None, None) when the branch does not exist."""
    from github import GithubException

    try:
        ref = repo.get_git_ref(f"heads/{branch}")
        # Completing the lazy ref (a GET) also gives it the canonical /git/refs/... URL that
        # PATCH and DELETE need.
        sha = ref.object.sha
    except GithubException as exc:
        if exc.status == 404:
            return None, None
        raise
    return ref, repo.get_git_commit(sha)


def _error(what: str, exc: Any) -> Exception:
    data = exc.data if isinstance(exc.data, dict) else {}
    message = f"GitHub: {what}: {exc.status} {data.get('message', '')}".strip()
    # 401/403/404/422 will answer the same next time; other statuses may pass on a retry.
    return PermanentError(message) if exc.status in (401, 403, 404, 422) else RuntimeError(message)


TARGET = GitHubPagesTarget()
