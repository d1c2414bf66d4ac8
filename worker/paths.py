"""Where Titan's data folders (templates/, migrations/, resources/) live at run time.

Three layouts: a source checkout or editable install (folders beside the ``worker`` package), a
wheel (copied into ``worker/_bundled``), and a PyInstaller bundle (under ``sys._MEIPASS``).
"""

from __future__ import annotations

import sys
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _candidates(name: str) -> list[Path]:
    roots = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        roots.append(Path(bundle))
    roots += [_PACKAGE_DIR.parent, _PACKAGE_DIR / "_bundled"]
    return [root / name for root in roots]


def data_dir(name: str) -> Path:
    for candidate in _candidates(name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"Titan's {name}/ folder is missing (looked in {_candidates(name)})")


def templates_dir() -> Path:
    return data_dir("templates")


def migrations_dir() -> Path:
    return data_dir("migrations")


def resources_dir() -> Path:
    return data_dir("resources")


def titan_command(*args: str) -> list[str]:
    """The argv that runs ``titan ARGS`` in a child process, frozen bundle or not."""
    if getattr(sys, "frozen", False):
        return [sys.executable, *args]
    return [sys.executable, "-m", "worker.cli", *args]
