"""A full OUTPUT_DIR, for real: a small tmpfs filled to the last page. The deploy fails with
one readable line; once space is freed, a retry publishes."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import titan
from worker.sitehost import stop_site_host

# Real processes over tens of seconds: part of the fault suite (-m 'not slow' leaves it out).
pytestmark = pytest.mark.slow


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "output"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path) -> Path:
    filler = folder / "filler.bin"
    with filler.open("wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def _show(env: dict, ref: str) -> dict:
    shown = titan(env, "project", "show", ref, "--json")
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def test_full_output_dir_says_so_and_a_retry_publishes(titan_env: dict,
                                                       small_filesystem: Path) -> None:
    env = {**titan_env, "OUTPUT_DIR": str(small_filesystem)}
    filler = _fill(small_filesystem)
    try:
        assert titan(env, "project", "create", "Moon Garden").returncode == 0
        assert titan(env, "worker", "--exit-when-idle").returncode == 0

        project = _show(env, "moon-garden")
        assert (project["status"], project["stage"]) == ("failed", "deploy")
        assert project["lastError"].endswith(f"no space left on OUTPUT_DIR ({small_filesystem})")
        assert "\n" not in project["lastError"] and "[(" not in project["lastError"]
        logs = titan(env, "logs", "--project", "moon-garden", "--limit", "200")
        assert f"no space left on OUTPUT_DIR ({small_filesystem})" in logs.stdout
        assert sorted(p.name for p in small_filesystem.iterdir()) == ["filler.bin"]  # no debris

        filler.unlink()  # space freed
        assert titan(env, "project", "retry", "moon-garden").returncode == 0
        assert titan(env, "worker", "--exit-when-idle").returncode == 0
        project = _show(env, "moon-garden")
        assert project["status"] == "published", project["lastError"]
        assert (small_filesystem / "moon-garden" / "index.html").is_file()
    finally:
        stop_site_host(Path(env["TITAN_HOME"]))
