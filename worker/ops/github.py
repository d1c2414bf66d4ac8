"""The GitHub side of an ops change, through PyGithub (``GITHUB_REPO``, ``GITHUB_TOKEN``).

The branch is built with the Git Data API (blobs -> tree -> commit -> ref), so no clone or push
is needed; the pull request is opened, merged or closed with the Pulls API. ``GITHUB_API_URL``
points PyGithub elsewhere (GitHub Enterprise, or the tests' loopback server).

Endpoints used: GET /repos/{repo}, GET /repos/{repo}/git/ref/heads/{branch},
GET /repos/{repo}/git/commits/{sha}, GET /repos/{repo}/git/trees/{sha}, POST .../git/blobs,
POST .../git/trees, POST .../git/commits, POST .../git/refs, PATCH .../git/refs/heads/{branch},
DELETE .../git/refs/heads/{branch}, POST .../pulls, GET .../pulls/{n}, PUT .../pulls/{n}/merge,
PATCH .../pulls/{n}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from github import Auth, Github, GithubException, InputGitTreeElement


class GitHubError(RuntimeError):
    pass


@dataclass
class GitHubRemote:
    repo_name: str
    token: str
    base_url: str = "https://api.github.com"

    def _repo(self) -> Any:
        client = Github(auth=Auth.Token(self.token), base_url=self.base_url.rstrip("/"),
                        retry=None, timeout=30)
        try:
            return client.get_repo(self.repo_name)
        except GithubException as exc:
            raise GitHubError(f"cannot open GitHub repository {self.repo_name}: "
                              f"{exc.status} {_message(exc)}") from None

    def default_branch(self) -> str:
        return str(self._repo().default_branch)

    def push_branch(self, branch: str, base_branch: str, files: dict[str, str | None],
                    message: str) -> tuple[str, str]:
        """Create (or move) ``branch`` to a commit on ``base_branch`` with ``files`` (None:
        deleted).

        Returns (the new commit's sha, the base commit's sha) as GitHub knows them.
        """
        repo = self._repo()
        try:
            base_sha = repo.get_git_ref(f"heads/{base_branch}").object.sha
            base_commit = repo.get_git_commit(base_sha)
            elements = []
            for path, content in files.items():
                if content is None:  # a null sha removes the path from the tree
                    elements.append(InputGitTreeElement(path, "100644", "blob", sha=None))
                    continue
                blob = repo.create_git_blob(content, "utf-8")
                elements.append(InputGitTreeElement(path, "100644", "blob", sha=blob.sha))
            tree = repo.create_git_tree(elements, repo.get_git_tree(base_commit.tree.sha))
            commit = repo.create_git_commit(message, tree, [base_commit])
            try:
                repo.create_git_ref(f"refs/heads/{branch}", commit.sha)
            except GithubException as exc:
                if exc.status != 422:  # 422: the ref exists (a retried step): move it
                    raise
                _ref(repo, branch).edit(commit.sha, force=True)
        except GithubException as exc:
            raise GitHubError(f"GitHub refused the branch {branch}: {exc.status} "
                              f"{_message(exc)}") from None
        return str(commit.sha), str(base_sha)

    def open_pull(self, branch: str, base_branch: str, title: str, body: str
                  ) -> tuple[int, str]:
        try:
            pull = self._repo().create_pull(title=title, body=body, head=branch,
                                            base=base_branch)
        except GithubException as exc:
            raise GitHubError(f"GitHub refused the pull request: {exc.status} "
                              f"{_message(exc)}") from None
        return int(pull.number), str(pull.html_url)

    def merge(self, number: int, title: str) -> str:
        try:
            status = self._repo().get_pull(number).merge(commit_title=title,
                                                          merge_method="merge")
        except GithubException as exc:
            raise GitHubError(f"GitHub could not merge #{number}: {exc.status} "
                              f"{_message(exc)}") from None
        if not status.merged:
            raise GitHubError(f"GitHub did not merge #{number}: {status.message}")
        return str(status.sha)

    def discard(self, number: int | None, branch: str | None) -> None:
        """Close the pull request and delete its branch (each only if it exists)."""
        repo = self._repo()
        try:
            if number is not None:
                pull = repo.get_pull(number)
                if pull.state != "closed":
                    pull.edit(state="closed")
            if branch is not None:
                try:
                    _ref(repo, branch).delete()
                except GithubException as exc:
                    if exc.status != 404:
                        raise
        except GithubException as exc:
            raise GitHubError(f"GitHub could not close #{number}: {exc.status} "
                              f"{_message(exc)}") from None


def _ref(repo: Any, branch: str) -> Any:
    """The branch's ref, fetched: its canonical URL (``/git/refs/...``) is what PATCH and
    DELETE must use, not the ``/git/ref/...`` read URL PyGithub starts from."""
    ref = repo.get_git_ref(f"heads/{branch}")
    _ = ref.object  # completes the lazy object (GET), which also sets its canonical url
    return ref


def _message(exc: GithubException) -> str:
    data = exc.data if isinstance(exc.data, dict) else {}
    return str(data.get("message", "")) or str(exc)


def remote_from_settings(settings: Any) -> GitHubRemote | None:
    if not settings.github_repo or settings.github_token is None:
        return None
    return GitHubRemote(settings.github_repo, settings.github_token.get_secret_value(),
                        settings.github_api_url)
