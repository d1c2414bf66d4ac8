"""The ``titan`` console script.

``titan`` with no arguments (or with GUI flags) opens the desktop app; every subcommand is the
Qt-free core's CLI (``worker.cli``), so ``titan worker``, ``titan api`` and ``titan jason`` run
on a server without Qt installed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

GUI_FLAGS = ("--smoke-test", "--screenshot")
# The one list of Debian packages (scripts/debian-packages.txt): next to this module in a wheel,
# under scripts/ in a checkout.
PACKAGE_LISTS = (Path(__file__).with_name("debian-packages.txt"),
                 Path(__file__).resolve().parent.parent / "scripts" / "debian-packages.txt")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0].startswith(GUI_FLAGS):
        try:
            from titan_desktop.app import main as gui_main
        except ImportError as exc:  # a server install without the desktop extra
            print(f"titan: the desktop app is not installed ({exc}); install "
                  "titan-builder[desktop] or use a subcommand (titan --help)", file=sys.stderr)
            return 2
        problem = qt_platform_problem(args)
        if problem:
            print(problem, file=sys.stderr)
            return 1
        return gui_main(args)
    from worker.cli import main as cli_main

    return cli_main(args)


def qt_platform_problem(args: list[str]) -> str | None:
    """Why Qt's platform plugin cannot load, with the command that fixes it; None if it can.

    Qt aborts the process ("no Qt platform plugin could be initialized") when the plugin's shared
    libraries are missing, so they are checked with ``ldd`` before the app creates QApplication.
    """
    if not sys.platform.startswith("linux"):
        return None
    platform = _qt_platform(args)
    plugins = [d / f"libq{platform}.so" for d in _platform_plugin_dirs()] if platform else []
    plugins = [p for p in plugins if p.is_file()]
    if not plugins:
        return None
    missing: list[str] = []
    for plugin in plugins:  # Qt tries each directory in turn: one good copy is enough
        missing = _missing_libraries(plugin)
        if not missing:
            return None
    lines = [f"titan: Qt cannot load its {platform!r} platform plugin; missing libraries: "
             + ", ".join(missing)]
    packages = debian_packages()
    if packages and Path("/etc/debian_version").exists():
        lines.append("This installs every library Titan needs: sudo apt-get install "
                     + " ".join(packages))
    else:
        lines.append("Install the packages that provide these libraries with your system's "
                     "package manager (the Debian names are in Titan's "
                     "scripts/debian-packages.txt).")
    lines.append("Without a display, QT_QPA_PLATFORM=offscreen runs Titan headless.")
    return "\n".join(lines)


def debian_packages() -> list[str]:
    """The packages of scripts/debian-packages.txt (empty when the list is not shipped)."""
    for path in PACKAGE_LISTS:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        return [line.strip() for line in text.splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    return []


def _qt_platform(args: list[str]) -> str | None:
    """The platform Qt will load (as app.main will choose it); None when Qt picks one itself."""
    chosen = os.environ.get("QT_QPA_PLATFORM", "")
    if chosen:
        return chosen.split(";")[0].split(":")[0].strip() or None
    if any(a.startswith("--smoke-test") for a in args) or (
            any(a.startswith("--screenshot") for a in args) and not os.environ.get("DISPLAY")):
        return "offscreen"
    if os.environ.get("WAYLAND_DISPLAY"):
        return None  # Qt tries wayland first and falls back to xcb on its own
    return "xcb"


def _platform_plugin_dirs() -> list[Path]:
    dirs = [Path(os.environ["QT_QPA_PLATFORM_PLUGIN_PATH"])] if os.environ.get(
        "QT_QPA_PLATFORM_PLUGIN_PATH") else []
    spec = importlib.util.find_spec("PySide6")
    for location in (spec.submodule_search_locations or []) if spec else []:
        dirs.append(Path(location) / "Qt" / "plugins" / "platforms")
    return dirs


def _missing_libraries(plugin: Path) -> list[str]:
    """The shared libraries ``ldd`` cannot find for ``plugin`` (none if ldd is unavailable)."""
    try:
        out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True,
                             timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted({line.split("=>")[0].strip() for line in out.splitlines()
                   if line.rstrip().endswith("not found")})


if __name__ == "__main__":
    sys.exit(main())
