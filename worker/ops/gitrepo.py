"""The local git repository the ops loop edits, driven through the real ``git`` binary.

Branches are built with plumbing (a private index, ``commit-tree``, ``update-ref``), so proposing,
patching and rolling back never touch the checkout a person may be working in. Tests and the
canary run in the sandbox on an export of the branch (``export``: no ``.git``). Only promotion
changes the base branch: a ``--no-ff`` merge, done in the worktree that has the branch checked
out (git refuses when that would overwrite someone's uncommitted work) or in a temporary one.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import worker
from worker.ops.paths import SymlinkLookup

IDENTITY = {
    "GIT_AUTHOR_NAME": "Titan ops", "GIT_AUTHOR_EMAIL": "ops@titan.invalid",
    "GIT_COMMITTER_NAME": "Titan ops", "GIT_COMMITTER_EMAIL": "ops@titan.invalid",
}


class GitError(RuntimeError):
    pass


def default_repo_path(settings: object) -> Path | None:
    """OPS_REPO_PATH, else the Titan checkout itself when it is a git repository."""
    configured = getattr(settings, "ops_repo_path", None)
    if configured is not None:
        return Path(configured)
    checkout = Path(worker.__file__).resolve().parent.parent
    return checkout if (checkout / ".git").exists() else None


def branch_name(change_id: int) -> str:
    return f"titan/ops-{change_id}"


@dataclass
class LocalRepo:
    root: Path

    def git(self, *args: str, input: str | None = None, env: dict[str, str] | None = None,
            cwd: Path | None = None, check: bool = True) -> str:
        full_env = {**os.environ, **IDENTITY, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
        # The caller's GIT_DIR/GIT_INDEX_FILE (a hook, a test runner) must not redirect us.
        for key in ("GIT_DIR", "GIT_WORK_TREE"):
            full_env.pop(key, None)
        done = subprocess.run(["git", *args], cwd=cwd or self.root, input=input, env=full_env,
                              capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise GitError(f"git {' '.join(args[:3])} failed: "
                           f"{(done.stderr or done.stdout).strip()[-1500:]}")
        return done.stdout

    # -- reading ------------------------------------------------------------------------------

    def check(self) -> None:
        if not self.root.is_dir():
            raise GitError(f"ops repository {self.root} does not exist")
        inside = self.git("rev-parse", "--is-inside-work-tree", check=False).strip() == "true"
        bare = self.git("rev-parse", "--is-bare-repository", check=False).strip() == "true"
        if not (inside or bare):
            raise GitError(f"{self.root} is not a git repository")

    def head_branch(self) -> str:
        name = self.git("symbolic-ref", "--short", "-q", "HEAD", check=False).strip()
        return name or "main"

    def resolve(self, ref: str) -> str:
        return self.git("rev-parse", "--verify", "-q", f"{ref}^{{commit}}").strip()

    def branch_exists(self, name: str) -> bool:
        return bool(self.git("rev-parse", "--verify", "-q", f"refs/heads/{name}",
                             check=False).strip())

    def read_file(self, sha: str, path: str) -> str | None:
        """The file's text at commit ``sha``, or None when it does not exist there."""
        done = subprocess.run(["git", "cat-file", "blob", f"{sha}:{path}"], cwd=self.root,
                              capture_output=True, timeout=60)
        if done.returncode != 0:
            return None
        return done.stdout.decode("utf-8", "replace")

    def tree_entry(self, sha: str, path: str) -> tuple[str, str] | None:
        """(mode, object) of ``path`` at ``sha``, or None."""
        line = self.git("ls-tree", sha, "--", path, check=False).strip()
        if not line:
            return None
        meta, _name = line.split("\t", 1)
        mode, _kind, obj = meta.split()
        return mode, obj

    def symlink_in_tree(self, sha: str) -> SymlinkLookup:
        """Symlink lookup in the committed tree at ``sha`` (what the branch is built on)."""

        def lookup(prefix: str) -> str | None:
            entry = self.tree_entry(sha, prefix)
            if entry is None or entry[0] != "120000":
                return None
            return self.git("cat-file", "blob", entry[1])

        return lookup

    # -- writing ------------------------------------------------------------------------------

    def commit_files(self, branch: str, base_sha: str, files: dict[str, str | None],
                     message: str) -> str:
        """Point ``branch`` at a new commit on ``base_sha`` with ``files`` replaced (None:
        deleted); no checkout."""
        with tempfile.TemporaryDirectory(prefix="titan-ops-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self.git("read-tree", base_sha, env=env)
            for path, content in files.items():
                if content is None:
                    self.git("update-index", "--force-remove", "--", path, env=env)
                    continue
                entry = self.tree_entry(base_sha, path)
                mode = entry[0] if entry and entry[0] in ("100644", "100755") else "100644"
                blob = self.git("hash-object", "-w", "--stdin", input=content).strip()
                self.git("update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}",
                         env=env)
            tree = self.git("write-tree", env=env).strip()
        commit = self.git("commit-tree", tree, "-p", base_sha, "-m", message).strip()
        self.git("update-ref", f"refs/heads/{branch}", commit)
        return commit

    def delete_branch(self, branch: str) -> None:
        if self.branch_exists(branch):
            self.git("update-ref", "-d", f"refs/heads/{branch}")

    def export(self, sha: str, where: Path) -> None:
        """Write the files of commit ``sha`` into ``where`` (no .git: nothing leads back here)."""
        import io
        import tarfile

        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        for key in ("GIT_DIR", "GIT_WORK_TREE"):
            env.pop(key, None)
        done = subprocess.run(["git", "archive", "--format=tar", sha], cwd=self.root, env=env,
                              capture_output=True, timeout=300)
        if done.returncode != 0:
            raise GitError(f"git archive {sha[:10]} failed: "
                           f"{done.stderr.decode('utf-8', 'replace').strip()[-1500:]}")
        with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
            archive.extractall(where, filter="data")

    def add_worktree(self, sha: str, where: Path) -> Path:
        self.git("worktree", "add", "--detach", "--force", str(where), sha)
        return where

    def remove_worktree(self, where: Path) -> None:
        self.git("worktree", "remove", "--force", str(where), check=False)
        self.git("worktree", "prune", check=False)

    def checked_out_at(self, branch: str) -> Path | None:
        """The worktree that has ``branch`` checked out, if any."""
        current: Path | None = None
        for line in self.git("worktree", "list", "--porcelain").splitlines():
            if line.startswith("worktree "):
                current = Path(line[len("worktree "):])
            elif line == f"branch refs/heads/{branch}":
                return current
        return None

    def merge(self, base_branch: str, branch: str, message: str) -> str:
        """Merge ``branch`` into ``base_branch`` (no fast-forward); returns the merge commit."""
        where = self.checked_out_at(base_branch)
        if where is not None:
            self.git("merge", "--no-ff", "--no-edit", "-m", message, branch, cwd=where)
            return self.resolve("HEAD") if where == self.root else self.git(
                "rev-parse", "HEAD", cwd=where).strip()
        old = self.resolve(base_branch)
        with tempfile.TemporaryDirectory(prefix="titan-ops-merge-") as tmp:
            tree = self.add_worktree(old, Path(tmp) / "merge")
            try:
                self.git("merge", "--no-ff", "--no-edit", "-m", message, branch, cwd=tree)
                merged = self.git("rev-parse", "HEAD", cwd=tree).strip()
            finally:
                self.remove_worktree(tree)
        # Compare-and-swap: fails if someone moved the base branch meanwhile.
        self.git("update-ref", f"refs/heads/{base_branch}", merged, old)
        return merged
