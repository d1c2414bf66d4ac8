"""The worker must import and run on a server with no Qt installed."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

BLOCK_QT = """
import importlib.abc, sys
class NoQt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in ('PySide6', 'shiboken6', 'qasync', 'PyQt5', 'PyQt6'):
            raise ImportError(f'{name} is not installed on this server')
        return None
sys.meta_path.insert(0, NoQt())
"""


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", BLOCK_QT + code, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_worker_modules_import_without_qt() -> None:
    code = """
import pkgutil, importlib, worker
failed = []
for info in pkgutil.walk_packages(worker.__path__, 'worker.'):
    try:
        importlib.import_module(info.name)
    except ImportError as exc:
        if 'not installed on this server' in str(exc):
            failed.append(f'{info.name}: {exc}')
from worker.handlers import default_registry
assert default_registry().handler('scaffold') is not None
print('\\n'.join(failed) or 'ok')
"""
    result = _run(code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok", result.stdout


def test_titan_worker_runs_without_qt(titan_env: dict) -> None:
    code = """
import os, sys
sys.argv = ['titan', 'worker', '--exit-when-idle']
from titan_desktop.launcher import main
sys.exit(main())
"""
    result = subprocess.run([sys.executable, "-c", BLOCK_QT + code], cwd=ROOT, env=titan_env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "queue is empty: exiting" in result.stdout
