"""The installer: scripts/build-installer builds dist/titan/ and the bundle works on its own.

Slow (a clean virtual environment, pip, PyInstaller: about 4-5 minutes on two cores). Skipped when
PyInstaller is not installed or TITAN_SKIP_BUNDLE=1. ``TITAN_BUNDLE_VENV=DIR`` reuses a build
environment between runs; ``TITAN_BUNDLE_ALSO_INSTALL="req ..."`` adds pip requirements to it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
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
def bundle() -> Iterator[Path]:
    """Run the build script once; it fails unless the bundle's own --smoke-test publishes.

    The bundle is built outside pytest's ``/tmp/pytest-of-<user>``: run as root, pgserver runs
    PostgreSQL's programs from the bundle as its own ``pgserver`` user and opens the bundle's
    parent folders to it, but every pytest session that starts meanwhile (another checkout's,
    another CI job's) resets ``/tmp/pytest-of-root`` to 0700, and the smoke test then fails with
    "Permission denied: .../pgserver/pginstall/bin/pg_ctl".
    """
    work = Path(tempfile.mkdtemp(prefix="titan-bundle-test-"))
    try:
        yield _build(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _build(work: Path) -> Path:
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


@pytest.mark.timeout(1800)
@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("ldd") is None,
                    reason="the Qt platform check reads ELF dependencies with ldd (Linux)")
def test_bundle_prints_the_apt_get_command_when_qt_cannot_load(bundle: Path, tmp_path: Path
                                                                ) -> None:
    """The bundle carries scripts/debian-packages.txt, so on a machine without libxcb-icccm4 it
    prints the install command instead of Qt's abort (as tests/install/test_qt_platform_check
    does for a source install: the bundle's own libQt6XcbQpa with that dependency renamed to a
    library that does not exist is put first on LD_LIBRARY_PATH)."""
    qt_lib = bundle.parent / "_internal" / "PySide6" / "Qt" / "lib"
    original = qt_lib / "libQt6XcbQpa.so.6"
    data = original.read_bytes()
    hidden = b"libxcb-icccX.so.4"  # same length: the ELF string table keeps its size
    assert b"libxcb-icccm.so.4\0" in data
    broken = tmp_path / "lib"
    broken.mkdir()
    (broken / original.name).write_bytes(data.replace(b"libxcb-icccm.so.4\0", hidden + b"\0"))
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_QPA_PLATFORM_PLUGIN_PATH", "DATABASE_URL")}
    env.update(LD_LIBRARY_PATH=str(broken), QT_QPA_PLATFORM="xcb", DISPLAY=":97",
               TITAN_HOME=str(tmp_path / "home"), TITAN_NO_AUDIO="1")
    done = subprocess.run([str(bundle)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert hidden.decode() in done.stderr
    listed = [line.strip() for line in
              (ROOT / "scripts" / "debian-packages.txt").read_text(encoding="utf-8").splitlines()
              if line.strip() and not line.startswith("#")]
    if Path("/etc/debian_version").exists():
        assert "sudo apt-get install " + " ".join(listed) in done.stderr, done.stderr[-2000:]
