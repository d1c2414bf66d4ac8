"""Path validation: the boundary that keeps Titan's self-edits out of infra, secrets and git."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from worker.config import DEFAULT_ALLOWED_PATHS, DEFAULT_PROTECTED_PATHS
from worker.ops.gitrepo import LocalRepo
from worker.ops.paths import PathPolicy, PathRejected, check_path, check_paths, disk_symlinks

POLICY = PathPolicy(tuple(DEFAULT_ALLOWED_PATHS), tuple(DEFAULT_PROTECTED_PATHS))

HOSTILE = [
    # (path, rule it must break)
    ("", "empty"),
    ("   ", "empty"),
    ("../etc/passwd", "traversal"),
    ("worker/../../etc/passwd", "traversal"),
    ("worker/../migrations/env.py", "traversal"),
    ("worker/..", "traversal"),
    ("/etc/passwd", "absolute"),
    ("/work/main/worker/x.py", "absolute"),
    ("//server/share/worker/x.py", "absolute"),
    ("C:/Windows/system32/x.dll", "drive"),
    ("c:worker/x.py", "drive"),
    ("worker/x.py:Zone.Identifier", "drive"),
    ("~/.bashrc", "home"),
    ("~root/.ssh/authorized_keys", "home"),
    ("worker\\..\\..\\etc\\passwd", "backslash"),
    ("worker\\x.py", "backslash"),
    ("\\\\server\\share\\x", "backslash"),
    ("worker/%2e%2e/%2e%2e/etc/passwd", "url-encoded"),
    ("%2e%2e/secrets/key", "url-encoded"),
    ("worker%2fx.py", "url-encoded"),
    ("worker/x.py\x00.txt", "nul"),
    ("worker/x\n.py", "control-character"),
    ("worker/\u202eyp.x", "control-character"),  # right-to-left override
    ("worker/x\u200b.py", "control-character"),  # zero-width space
    ("\uff57orker/x.py", "unicode"),  # fullwidth w
    ("worker/\u2024\u2024/x.py", "unicode"),  # one-dot leaders that look like ".."
    ("README\uff0emd", "unicode"),  # fullwidth full stop
    ("w\u043erker/x.py", "not-allowed"),  # Cyrillic o: a different folder, not on the list
    ("migrations/versions/0002_evil.py", "protected"),
    ("MIGRATIONS/versions/0002_evil.py", "protected"),
    ("Migrations/env.py", "protected"),
    ("infra/main.tf", "protected"),
    ("Infra/main.tf", "protected"),
    ("INFRA/prod/main.tf", "protected"),
    ("secrets/api.key", "protected"),
    ("Secrets/api.key", "protected"),
    ("database/migrations/001.sql", "protected"),
    ("DataBase/Migrations/001.sql", "protected"),
    (".ci/run", "protected"),
    (".git/config", "git-internal"),
    ("worker/.git/hooks/post-checkout", "git-internal"),
    ("worker/.GIT/config", "git-internal"),
    ("worker/./x.py", "not-normalized"),
    ("worker//x.py", "not-normalized"),
    ("worker/", "not-normalized"),
    ("./worker/x.py", "not-normalized"),
    ("worker/x.py.", "windows-trick"),
    ("worker/x.py ", "windows-trick"),
    ("worker/" + "a" * 300 + ".py", "too-long"),
    ("worker/" + "a/" * 600 + "x.py", "too-long"),
    ("etc/passwd", "not-allowed"),
    (".github/workflows/deploy.yml", "not-allowed"),
    ("setup.py", "not-allowed"),
    ("docs", "not-allowed"),
    ("Worker/x.py", "not-allowed"),  # allow-list is exact: a different folder on Linux
    ("readme.md", "not-allowed"),
    ("templates/README.md/../../secrets/x", "traversal"),
]

ALLOWED = [
    "README.md", "worker/ops/paths.py", "worker/x.py", "titan_desktop/app.py",
    "templates/persona/basic/template.py", "tests/ops/test_new.py", "docs/deploy.md",
    "Dockerfile", "package.json", "client/src/app.tsx", "server/index.ts", "CHANGELOG.md",
    "resources/icons/titan.svg", "worker/..hidden/x.py", "worker/über.py",
]


@pytest.mark.parametrize(("path", "rule"), HOSTILE, ids=[repr(p)[:40] for p, _ in HOSTILE])
def test_hostile_path_is_rejected_naming_the_rule(path: str, rule: str) -> None:
    with pytest.raises(PathRejected) as caught:
        check_path(path, POLICY, field="patches[0].path")
    assert caught.value.rule == rule
    assert caught.value.field == "patches[0].path"
    assert f"rule {rule}" in str(caught.value)


def test_at_least_forty_hostile_paths() -> None:
    assert len(HOSTILE) >= 40


@pytest.mark.parametrize("path", ALLOWED)
def test_allowed_path_is_accepted(path: str) -> None:
    assert check_path(path, POLICY) == path


def test_non_string_path_is_rejected() -> None:
    with pytest.raises(PathRejected) as caught:
        check_path(42, POLICY)
    assert caught.value.rule == "type"


def test_one_bad_path_names_its_index() -> None:
    with pytest.raises(PathRejected) as caught:
        check_paths(["worker/a.py", "README.md", "infra/x"], POLICY)
    assert caught.value.field == "patches[2].path"
    assert "'infra/x'" in str(caught.value)


def test_duplicate_paths_in_one_change_are_rejected() -> None:
    with pytest.raises(PathRejected) as caught:
        check_paths(["worker/a.py", "worker/a.py"], POLICY)
    assert caught.value.rule == "duplicate"


def test_protected_glob_without_slash_protects_every_depth() -> None:
    policy = PathPolicy(("worker/**",), ("*.pem",))
    with pytest.raises(PathRejected) as caught:
        check_path("worker/certs/Server.PEM", policy)
    assert caught.value.rule == "protected"
    assert check_path("worker/certs/readme.txt", policy)


def test_double_star_in_the_middle_matches_any_depth() -> None:
    policy = PathPolicy(("docs/**/*.md",), ())
    assert check_path("docs/a.md", policy)
    assert check_path("docs/x/y/a.md", policy)
    with pytest.raises(PathRejected):
        check_path("docs/x/a.txt", policy)


def _symlinked_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "worker").mkdir(parents=True)
    (repo / "worker" / "real").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, repo / "worker" / "escape")
    os.symlink("/etc", repo / "worker" / "etc")
    os.symlink("real", repo / "worker" / "inner")
    os.symlink("../../../outside/file", repo / "worker" / "real" / "up")
    return repo


@pytest.mark.parametrize("path", ["worker/escape/x.py", "worker/etc/passwd",
                                  "worker/real/up", "worker/inner/x.py"])
def test_symlinks_on_disk_are_never_written_through(tmp_path: Path, path: str) -> None:
    repo = _symlinked_repo(tmp_path)
    with pytest.raises(PathRejected) as caught:
        check_path(path, POLICY, symlink_target=disk_symlinks(repo))
    assert caught.value.rule == "symlink"
    assert "worker/inner" in path or "leaves the repository" in str(caught.value)
    assert check_path("worker/real/ok.py", POLICY, symlink_target=disk_symlinks(repo))


def test_symlink_committed_in_the_tree_is_caught_without_a_checkout(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "worker").mkdir()
    os.symlink("../..", repo / "worker" / "up")
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "-qm", "link"], check=True)
    (repo / "worker" / "up").unlink()  # gone from disk, still in the committed tree
    local = LocalRepo(repo)
    with pytest.raises(PathRejected) as caught:
        check_path("worker/up/etc/x", POLICY,
                   symlink_target=local.symlink_in_tree(local.resolve("main")))
    assert caught.value.rule == "symlink" and "leaves the repository" in str(caught.value)


@pytest.mark.parametrize("path", [".ci/run", ".CI/venv/bin/python", "migrations/env.py",
                                  "Migrations/versions/0009_evil.py", ".git/hooks/pre-commit"])
@pytest.mark.parametrize("protected", ["", "secrets/**"])
def test_git_ci_and_migrations_stay_protected_whatever_protected_paths_says(
        path: str, protected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """PROTECTED_PATHS= (empty) or a list without them used to open .ci/run and migrations/."""
    from worker.config import Settings

    monkeypatch.setenv("ALLOWED_PATHS", "**,.ci/**,.git/**")
    monkeypatch.setenv("PROTECTED_PATHS", protected)
    policy = PathPolicy.from_settings(Settings())
    with pytest.raises(PathRejected) as caught:
        check_path(path, policy)
    assert caught.value.rule in ("protected", "git-internal")
    assert check_path("worker/fine.py", policy) == "worker/fine.py"
