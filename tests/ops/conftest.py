"""A tiny real git repository for the ops loop, with its own pytest test and health server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from worker.config import reload_settings

TOKEN = "ops-test-token"
APPROVER_TOKEN = "ops-approver-token"  # decides; OPS_TOKEN only proposes

SERVE_PY = '''\
"""The tiny repo's "titan api": /health answers 200 while client/health.txt says ok."""
import http.server
import sys
from pathlib import Path


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = Path("client/health.txt").read_text().strip() == "ok"
        self.send_response(200 if ok else 503)
        self.end_headers()
        self.wfile.write(b"ok" if ok else b"unhealthy")

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
'''

TEST_PY = '''\
import json
from pathlib import Path


def test_the_answer_is_42():
    assert json.loads(Path("client/config.json").read_text())["answer"] == 42
'''


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def tiny_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "tiny-repo"
    (repo / "client").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "client" / "config.json").write_text(json.dumps({"answer": 42}) + "\n")
    (repo / "client" / "health.txt").write_text("ok\n")
    (repo / "tests" / "test_config.py").write_text(TEST_PY)
    (repo / "serve.py").write_text(SERVE_PY)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=Tiny", "-c", "user.email=tiny@example.invalid", "commit", "-qm",
        "tiny repo")
    return repo


@pytest.fixture
def ops_env(titan_env: dict, tiny_repo: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """titan_env pointing the ops loop at the tiny repo, its tests and its health server."""
    extra = {
        "OPS_TOKEN": TOKEN,
        "OPS_APPROVER_TOKEN": APPROVER_TOKEN,
        "OPS_REPO_PATH": str(tiny_repo),
        "OPS_TEST_COMMAND": "python -m pytest -q -x -p no:cacheprovider tests",
        "OPS_CANARY_COMMAND": "{python} serve.py {port}",
        "OPS_CANARY_TIMEOUT_SECONDS": "2",
        "OPS_TEST_TIMEOUT_SECONDS": "120",
    }
    for key, value in extra.items():
        monkeypatch.setenv(key, value)
    titan_env.update(extra)
    reload_settings()
    return titan_env
