"""Jason answers on a server without the desktop: ``titan jason ask`` and ``POST /api/jason/ask``.

Both run as real child processes against the test database, with a ``sitecustomize`` that makes
PySide6, shiboken6, qasync and ``titan_desktop`` unimportable (as on a server without the desktop
extra), and the voice extra's pocketsphinx, pyttsx3 and numpy too (``ask`` needs no ears). The
blocker also prints every refused import to stderr, so an import that some ``except ImportError``
swallowed is still caught.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.api.server import TitanApiProcess
from tests.conftest import ROOT

REFUSED = "refused by the headless test"
SITECUSTOMIZE = f'''
import importlib.abc, os, sys

ALLOWED = set(filter(None, os.environ.get("TITAN_TEST_ALLOW_MODULES", "").split(",")))


class NoDesktop(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        top = name.split(".")[0]
        if top in ("PySide6", "shiboken6", "qasync", "pocketsphinx", "pyttsx3", "numpy") or (
                top == "titan_desktop" and name not in ALLOWED):
            print(f"BLOCKED {{name}}", file=sys.stderr)
            raise ImportError(f"{{name}} is {REFUSED}")
        return None


sys.meta_path.insert(0, NoDesktop())
'''


@pytest.fixture
def headless_env(titan_env: dict, tmp_path: Path) -> dict:
    site = tmp_path / "headless-site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return {**titan_env, "PYTHONPATH": str(site)}


def _run(env: dict, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *command], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=180)


def _create(env: dict, name: str) -> None:
    created = _run(env, "-m", "worker.cli", "project", "create", name)
    assert created.returncode == 0, created.stderr


def _status(env: dict, slug: str) -> str:
    shown = _run(env, "-m", "worker.cli", "project", "show", slug, "--json")
    assert shown.returncode == 0, shown.stderr
    return str(json.loads(shown.stdout)["status"])


def test_the_blocker_refuses_qt_and_the_desktop(headless_env: dict) -> None:
    for module in ("PySide6.QtCore", "qasync", "titan_desktop.jason.desk"):
        result = _run(headless_env, "-c", f"import {module}")
        assert result.returncode == 1 and REFUSED in result.stderr, module


def test_titan_jason_ask_answers_without_qt(headless_env: dict) -> None:
    _create(headless_env, "Moon Garden")
    _create(headless_env, "Sea Shell")
    # ``titan`` itself (the launcher) is the only desktop module allowed in: it hands
    # subcommands to worker.cli.
    titan_env = {**headless_env, "TITAN_TEST_ALLOW_MODULES": "titan_desktop,titan_desktop.launcher"}
    status = _run(titan_env, "-m", "titan_desktop.launcher", "jason", "ask", "status")
    assert status.returncode == 0, status.stderr
    assert "Moon Garden" in status.stdout and "Sea Shell" in status.stdout
    assert "BLOCKED" not in status.stderr
    # ``titan-worker`` (worker.cli) with no desktop module at all: a destructive command asks
    # first and does nothing; --yes carries it out.
    asked = _run(headless_env, "-m", "worker.cli", "jason", "ask", "cancel sea shell", "--json")
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["awaitingConfirmation"] is True
    assert "BLOCKED" not in asked.stderr
    assert _status(headless_env, "sea-shell") == "queued"
    done = _run(headless_env, "-m", "worker.cli", "jason", "ask", "cancel sea shell", "--yes")
    assert done.stdout.strip() == "Cancelled Sea Shell.", done.stderr
    assert _status(headless_env, "sea-shell") == "cancelled"


def test_api_jason_ask_answers_without_qt(headless_env: dict, tmp_path: Path) -> None:
    _create(headless_env, "Moon Garden")
    _create(headless_env, "Sea Shell")
    env = {**headless_env, "TITAN_API_TOKEN": "jason-test-token"}
    auth = {"Authorization": "Bearer jason-test-token"}
    with TitanApiProcess(env, log_dir=tmp_path) as api, httpx.Client(
            base_url=api.url, timeout=60, trust_env=False) as client:
        status = client.post("/api/jason/ask", json={"text": "status"}, headers=auth)
        assert status.status_code == 200, status.text
        answer = status.json()
        assert "Moon Garden" in answer["reply"] and "Sea Shell" in answer["reply"]
        assert answer["needsConfirmation"] is False and answer["action"] is None

        tab = client.post("/api/jason/ask", json={"text": "show me the logs"}, headers=auth)
        assert tab.json()["action"] == {"tab": "logs"}

        # Destructive: without confirm Jason only asks; with confirm he acts.
        asked = client.post("/api/jason/ask", json={"text": "cancel moon garden"}, headers=auth)
        assert asked.json()["needsConfirmation"] is True
        assert "Are you sure" in asked.json()["reply"]
        assert _status(headless_env, "moon-garden") == "queued"
        done = client.post("/api/jason/ask", json={"text": "cancel moon garden", "confirm": True},
                           headers=auth)
        assert done.json()["reply"] == "Cancelled Moon Garden."
        assert done.json()["needsConfirmation"] is False
        assert _status(headless_env, "moon-garden") == "cancelled"

        # The API's guard and validation apply: bearer token, JSON, fields named on 422.
        assert client.post("/api/jason/ask", json={"text": "status"}).status_code == 401
        plain = client.post("/api/jason/ask", content=b'{"text": "status"}',
                            headers={**auth, "Content-Type": "text/plain"})
        assert plain.status_code == 415
        for body, field in (({}, "text"), ({"text": "   "}, "text"), ({"text": 5}, "text"),
                            ({"text": "status", "confirm": "yes"}, "confirm"),
                            ({"text": "status", "extra": 1}, "extra")):
            bad = client.post("/api/jason/ask", json=body, headers=auth)
            assert bad.status_code == 422 and bad.json()["field"] == field, (body, bad.text)
    assert "BLOCKED" not in api.output(), api.output()[-3000:]
