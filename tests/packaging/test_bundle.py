"""The installer: scripts/build-installer builds dist/titan/ and the bundle works on its own.

Slow (a clean virtual environment, pip, PyInstaller: about 4-5 minutes on two cores). Skipped when
PyInstaller is not installed or TITAN_SKIP_BUNDLE=1. ``TITAN_BUNDLE_VENV=DIR`` reuses a build
environment between runs; ``TITAN_BUNDLE_ALSO_INSTALL="req ..."`` adds pip requirements to it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from worker import __version__

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("PyInstaller") is None,
                       reason="PyInstaller is not installed"),
    pytest.mark.skipif(os.environ.get("TITAN_SKIP_BUNDLE") == "1",
                       reason="TITAN_SKIP_BUNDLE=1"),
]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the build script once; it fails unless the bundle's own --smoke-test publishes."""
    work = tmp_path_factory.mktemp("installer")
    command = [sys.executable, str(ROOT / "scripts" / "build_installer.py"),
               "--dist", str(work / "dist")]
    reuse = os.environ.get("TITAN_BUNDLE_VENV")
    command += ["--venv", reuse, "--reuse-venv"] if reuse else ["--venv", str(work / "venv")]
    for requirement in os.environ.get("TITAN_BUNDLE_ALSO_INSTALL", "").split():
        command += ["--also-install", requirement]
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TITAN_HOME")}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1800)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "smoke test passed: project smoke-test-" in done.stdout
    executable = work / "dist" / "titan" / ("titan.exe" if os.name == "nt" else "titan")
    assert executable.is_file()
    return executable


@pytest.mark.timeout(1800)
def test_build_script_produces_a_bundle_whose_smoke_test_publishes(bundle: Path) -> None:
    done = subprocess.run([str(bundle), "--version"], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == f"titan {__version__}"


@pytest.mark.timeout(1800)
def test_bundle_runs_the_headless_worker_against_a_server(bundle: Path, titan_env: dict) -> None:
    """The bundle alone (no Python installed) is a server worker too: create, build, publish."""
    def titan(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(bundle), *args], env=titan_env, capture_output=True,
                              text=True, timeout=300)

    created = titan("project", "create", "Bundled Worker", "--template", "persona/basic")
    assert created.returncode == 0, created.stderr
    worker = titan("worker", "--exit-when-idle")
    assert worker.returncode == 0, worker.stdout[-2000:] + worker.stderr[-2000:]
    shown = titan("project", "show", "bundled-worker")
    assert "status:   published" in shown.stdout, shown.stdout + shown.stderr
