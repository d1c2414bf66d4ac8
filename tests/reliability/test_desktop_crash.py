"""The desktop app is killed while its worker runs: the worker carries on, the next start
adopts it instead of starting a second one, and every job still runs exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import ROOT
from tests.helpers import wait_until
from worker import queue
from worker.db.engine import Database

pytestmark = pytest.mark.slow  # the fault suite: left out by -m "not slow"


async def _scalar(db: Database, sql: str) -> object:
    async with db.session() as s:
        return (await s.execute(text(sql))).scalar()


async def _until(db: Database, sql: str, check, timeout: float = 60) -> object:
    return await wait_until(lambda: _scalar(db, sql), timeout, repr(sql), done=check,
                            interval=0.2)


def _desktop(env: dict, log: Path | None = None) -> subprocess.Popen[bytes]:
    with log.open("wb") if log else open(os.devnull, "wb") as err:  # its log lines
        return subprocess.Popen([sys.executable, "-m", "titan_desktop.launcher"], cwd=ROOT,
                                env={**env, "QT_QPA_PLATFORM": "offscreen",
                                     "TITAN_NO_KEYRING": "1"},
                                stdout=subprocess.DEVNULL, stderr=err)


async def test_killed_desktop_leaves_a_worker_the_next_start_adopts(titan_env: dict,
                                                                    db: Database,
                                                                    tmp_path: Path) -> None:
    live = ("SELECT count(*) FROM workers WHERE status IN ('running', 'paused') "
            "AND last_heartbeat > now() - interval '10 seconds'")
    first = _desktop(titan_env)
    second = None
    try:
        await _until(db, live, lambda n: n == 1)
        orphan_pid = int(await _scalar(db, "SELECT pid FROM workers"))
        async with db.session() as s:
            await queue.enqueue_many(s, "noop", [{"sleep": 0.05}] * 200)
        first.send_signal(signal.SIGKILL)  # no chance to stop its worker
        first.wait(timeout=10)
        os.kill(orphan_pid, 0)  # the worker survived its parent

        second_log = tmp_path / "second-desktop.log"
        second = _desktop(titan_env, second_log)
        await _until(db, "SELECT count(*) FROM jobs WHERE status = 'succeeded'",
                     lambda n: n == 200, timeout=120)
        decided = await wait_until(lambda: [line for line in second_log.read_text().splitlines()
                                            if "not spawning" in line or "spawned" in line],
                                   60, "the new desktop's decision about a worker")
        assert "not spawning" in decided[0]
        assert await _scalar(db, "SELECT count(*) FROM workers") == 1  # adopted, not doubled
        assert await _scalar(db, live) == 1
        assert await _scalar(db, "SELECT count(*) FROM runs") == 200  # each job ran once
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
        pid = await _scalar(db, "SELECT pid FROM workers WHERE status <> 'stopped'")
        if pid:
            os.kill(int(pid), signal.SIGTERM)
