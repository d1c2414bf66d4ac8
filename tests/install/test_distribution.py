"""Titan is published as ``titan-builder`` (``titan`` on PyPI is an unrelated 2014 package); the
command it installs is still ``titan``."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

from tests.conftest import ROOT

NAME = "titan-builder"


def test_installed_distribution_is_titan_builder_with_the_titan_command() -> None:
    dist = metadata.distribution(NAME)
    assert dist.metadata["Name"] == NAME
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts["titan"] == "titan_desktop.launcher:main"
    titan = Path(sys.executable).with_name("titan")
    done = subprocess.run([str(titan), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and dist.version in done.stdout + done.stderr


def test_pyproject_refers_to_itself_by_the_new_name() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == NAME
    assert all(req.startswith(f"{NAME}[") for req in project["optional-dependencies"]["all"])


def test_wheel_is_named_titan_builder_and_ships_the_package_list(tmp_path: Path) -> None:
    """An installed wheel has no scripts/ folder: the launcher reads the list shipped beside it."""
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    wheels = list(tmp_path.glob("*.whl"))
    assert [w.name.split("-")[0] for w in wheels] == ["titan_builder"]
    with zipfile.ZipFile(wheels[0]) as wheel:
        shipped = wheel.read("titan_desktop/debian-packages.txt")
    assert shipped == (ROOT / "scripts" / "debian-packages.txt").read_bytes()
