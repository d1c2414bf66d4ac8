"""The Debian package list lives in one place, scripts/debian-packages.txt, and both the README's
install command and .ci/run read it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

LIST = ROOT / "scripts" / "debian-packages.txt"
INSTALLER = ROOT / "scripts" / "install-debian-packages"
# What .ci/run installed before the list moved out of it.
CI_RUN_BEFORE = str.split(
    "espeak-ng libespeak-ng1 sox git xvfb xauth imagemagick libpulse0 pulseaudio pulseaudio-utils "
    "libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0 "
    "libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 "
    "libxcb-render-util0 libxcb-image0 libnss3 libasound2")


def listed() -> list[str]:
    lines = LIST.read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def test_list_holds_everything_ci_installed_and_bubblewrap() -> None:
    packages = listed()
    assert len(packages) == len(set(packages)), "a package is listed twice"
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", p) for p in packages), packages
    assert set(CI_RUN_BEFORE) <= set(packages), set(CI_RUN_BEFORE) - set(packages)
    assert "bubblewrap" in packages


def test_ci_run_reads_the_list_and_hard_codes_none() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "scripts/debian-packages.txt" in ci
    assert "APT_PACKAGES=(" not in ci
    # .ci/run's own parsing line, run by bash, yields exactly the list.
    line = next(ln for ln in ci.splitlines() if "scripts/debian-packages.txt" in ln
                and "mapfile" in ln)
    done = subprocess.run(["bash", "-c", line + '\nprintf "%s\\n" "${APT_PACKAGES[@]}"'],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.split() == listed()


def test_readme_install_command_uses_the_list() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    install = readme.split("## Install", 1)[1].split("\n## ", 1)[0]
    assert "scripts/install-debian-packages" in install
    assert "sudo apt-get install espeak-ng" not in readme, "a hand-written package list"
    assert "debian-packages.txt" in INSTALLER.read_text(encoding="utf-8")
    assert os.access(INSTALLER, os.X_OK)


@pytest.mark.skipif(not shutil.which("apt-get") or os.geteuid() != 0,
                    reason="simulates apt-get as root on Debian")
def test_install_script_asks_apt_for_every_listed_package() -> None:
    """apt-get --simulate resolves every name: a misspelt package fails here."""
    done = subprocess.run([str(INSTALLER), "--simulate"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    for package in listed():
        assert package in done.stdout, package
