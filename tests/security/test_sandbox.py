"""``worker.sandbox.run`` and the sandboxed canary on their own: real bubblewrap, real processes."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path

import pytest

from worker import sandbox
from worker.config import reload_settings
from worker.ops import canary

SERVE = '''\
import http.server, json, os, sys
print("CANARY-ENV " + json.dumps(dict(os.environ)), file=sys.stderr, flush=True)


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
'''

needs_bwrap = pytest.mark.skipif(sandbox.bwrap_problem() is not None,
                                 reason=f"no sandbox here: {sandbox.bwrap_problem()}")


def _alive(token: str) -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if token.encode() in (entry / "cmdline").read_bytes():
                    return True
            except OSError:
                pass
    return False


@needs_bwrap
async def test_canary_runs_sandboxed_without_the_workers_secrets(
        titan_env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"sk_live_{uuid.uuid4().hex}"
    monkeypatch.setenv("STRIPE_API_KEY", secret)
    settings = reload_settings()
    source = tmp_path / "tree"
    source.mkdir()
    (source / "serve.py").write_text(SERVE)
    log = tmp_path / "canary-output.txt"
    result = await canary.run_local_canary(settings, source, "{python} serve.py {port}", 20, log)
    assert result.healthy, result.detail
    assert result.probes[-1]["status"] == 200
    output = log.read_text()
    assert "CANARY-ENV" in output
    assert secret not in output and "DATABASE_URL" not in output and "TITAN_HOME" not in output


@needs_bwrap
async def test_wall_clock_limit_kills_the_whole_group(titan_env: dict, tmp_path: Path) -> None:
    token = f"titan-wall-{uuid.uuid4().hex}"
    settings = reload_settings()
    sleeper = f"import time; time.sleep(600)  # {token}"
    script = (f"import subprocess, sys, time\n"
              f"subprocess.Popen([sys.executable, '-c', {sleeper!r}], start_new_session=True)\n"
              f"print('started', flush=True)\ntime.sleep(600)\n")
    source = tmp_path / "tree"
    source.mkdir()
    (source / "slow.py").write_text(script)
    limits = sandbox.Limits(wall_seconds=3)
    result = await sandbox.run(settings, [sys.executable, "slow.py"], source, limits)
    assert result.timed_out and result.returncode == 124
    assert "started" in result.output and "timed out after 3s" in result.output
    deadline = time.monotonic() + 10
    while _alive(token) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not _alive(token)
    assert sandbox.live_groups() == []


async def test_approved_unsandboxed_run_still_gets_only_the_allow_listed_environment(
        titan_env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"ops-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPS_TOKEN", secret)
    settings = reload_settings()
    source = tmp_path / "tree"
    source.mkdir()
    (source / "env.py").write_text(
        "import os\nprint(sorted(os.environ.items()))\n"
        "open('big', 'wb').write(b'x' * (4 * 1024 * 1024))\n")
    limits = sandbox.Limits(wall_seconds=60, file_bytes=1024 * 1024)
    result = await sandbox.run(settings, [sys.executable, "env.py"], source, limits,
                               unsandboxed=True)
    assert not result.sandboxed
    assert secret not in result.output and "DATABASE_URL" not in result.output
    assert "File too large" in result.output and result.returncode != 0
    assert not (source / "big").exists()  # it ran on a copy
