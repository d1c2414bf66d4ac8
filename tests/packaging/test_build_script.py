"""scripts/build_installer.py without building: the hints it adds when the bundle's smoke test
fails."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def _build_installer():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("build_installer",
                                                  ROOT / "scripts" / "build_installer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_installer", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(os.name == "nt" or os.geteuid() != 0, reason="pgserver's user switch: root")
def test_a_parent_folder_closed_to_pgserver_is_named(tmp_path: Path) -> None:
    """Run as root, pgserver's PostgreSQL runs as another user: a 0700 folder above the bundle
    (pytest's /tmp/pytest-of-root, reset by every new session) is why it cannot start."""
    build_installer = _build_installer()
    bundle = tmp_path / "closed" / "dist" / "titan"
    bundle.mkdir(parents=True)
    (bundle / "titan").write_text("")
    for folder in (tmp_path, *tmp_path.parents):  # only the folder under test is closed
        folder.chmod(folder.stat().st_mode | 0o011)
    (tmp_path / "closed").chmod(0o700)
    hint = build_installer.locked_parent_hint(bundle / "titan")
    assert hint is not None and f"{tmp_path / 'closed'} (mode 700)" in hint

    (tmp_path / "closed").chmod(0o755)
    assert build_installer.locked_parent_hint(bundle / "titan") is None
