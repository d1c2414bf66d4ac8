"""When Qt's platform plugin cannot load its libraries, ``titan`` prints the install command
built from scripts/debian-packages.txt and exits 1, instead of Qt's abort ("no Qt platform
plugin could be initialized").

The missing library is real for the dynamic loader: a copy of PySide6's libQt6XcbQpa.so.6 whose
dependency ``libxcb-icccm.so.4`` is renamed to a library that does not exist is put first on
LD_LIBRARY_PATH, so the xcb plugin fails to load exactly as on a machine without libxcb-icccm4.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytest.importorskip("PySide6", reason="the desktop extra")
if not sys.platform.startswith("linux") or not shutil.which("ldd"):
    pytest.skip("the check reads ELF dependencies with ldd (Linux)", allow_module_level=True)

TITAN = Path(sys.executable).with_name("titan")
HIDDEN = b"libxcb-icccX.so.4"  # same length as the real name: the ELF string table keeps its size


def _qt_lib_dir() -> Path:
    import PySide6

    return Path(PySide6.__file__).parent / "Qt" / "lib"


def _listed_packages() -> list[str]:
    text = (ROOT / "scripts" / "debian-packages.txt").read_text(encoding="utf-8")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def test_missing_xcb_library_prints_the_apt_get_command(tmp_path: Path) -> None:
    original = _qt_lib_dir() / "libQt6XcbQpa.so.6"
    data = original.read_bytes()
    assert b"libxcb-icccm.so.4\0" in data
    broken = tmp_path / "lib"
    broken.mkdir()
    (broken / original.name).write_bytes(data.replace(b"libxcb-icccm.so.4\0", HIDDEN + b"\0"))
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM_PLUGIN_PATH",)}
    env.update({
        "LD_LIBRARY_PATH": f"{broken}{os.pathsep}{_qt_lib_dir()}",
        "QT_QPA_PLATFORM": "xcb", "DISPLAY": ":97", "TITAN_HOME": str(tmp_path / "home"),
        "TITAN_NO_AUDIO": "1",
    })
    done = subprocess.run([str(TITAN)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert "no Qt platform plugin could be initialized" not in done.stderr
    assert HIDDEN.decode() in done.stderr
    command = "sudo apt-get install " + " ".join(_listed_packages())
    if Path("/etc/debian_version").exists():
        assert command in done.stderr
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").iterdir())


@pytest.mark.parametrize("platform", ["xcb", "offscreen"])
def test_intact_plugin_is_not_reported(platform: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On this machine (every listed package installed) the check finds nothing to complain of."""
    from titan_desktop.launcher import qt_platform_problem

    monkeypatch.setenv("QT_QPA_PLATFORM", platform)
    assert qt_platform_problem([]) is None
