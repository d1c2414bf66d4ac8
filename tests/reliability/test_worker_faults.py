"""Fault suite for the queue and workers: real processes, real PostgreSQL, bounded in time."""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import WorkerProcess, spawn_worker
from tests.helpers import wait_until
from worker import queue
from worker.db.engine import Database, libpq_url
from worker.db.migrate import upgrade

pytestmark = pytest.mark.slow  # the fault suite: left out by -m "not slow"


async def _count(db: Database, sql: str) -> int:
    async with db.session() as s:
        return int((await s.execute(text(sql))).scalar() or 0)


async def test_10000_jobs_survive_random_sigkills(titan_env: dict, db: Database, tmp_path: Path
                                                  ) -> None:
    """4 workers; every ~1.5 s one is SIGKILLed at random and a new one started in its place.
    Every job completes exactly once (one succeeded run); none is left running."""
    env = {**titan_env, "TITAN_JOB_LEASE_SECONDS": "2", "TITAN_HEARTBEAT_SECONDS": "0.5"}
    marker = Path(titan_env["TITAN_HOME"]) / "work" / "executions.txt"  # noop writes only there
    async with db.session() as s:
        await queue.enqueue_many(s, "noop", [{"sleep": 0.004, "touch": str(marker)}] * 10_000,
                                 max_attempts=10)
    workers = [spawn_worker(env, "--concurrency", "4") for _ in range(4)]
    rng = random.Random(7)
    kills = 0
    deadline = time.monotonic() + 240
    try:
        while await _count(db, "SELECT count(*) FROM jobs WHERE status <> 'succeeded'"):
            assert time.monotonic() < deadline, "jobs did not finish in time"
            await asyncio.sleep(1.5)
            if kills < 12:
                victim = rng.randrange(len(workers))
                workers[victim].send_signal(signal.SIGKILL)
                workers[victim].wait(timeout=10)
                workers[victim] = spawn_worker(env, "--concurrency", "4")
                kills += 1
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.communicate(timeout=60)

    assert await _count(db, "SELECT count(*) FROM jobs WHERE status = 'succeeded'") == 10_000
    assert await _count(db, "SELECT count(*) FROM jobs WHERE status = 'running'") == 0
    # exactly one completion per job, whatever was interrupted
    assert await _count(db, """SELECT count(*) FROM (SELECT job_id FROM runs
                               WHERE status = 'succeeded' GROUP BY job_id
                               HAVING count(*) <> 1) t""") == 0
    assert await _count(db, "SELECT count(*) FROM runs WHERE status = 'succeeded'") == 10_000
    executions = Counter(line.split()[0] for line in marker.read_text().splitlines())
    assert len(executions) == 10_000  # every job's side effect happened
    lost = await _count(db, "SELECT count(*) FROM runs WHERE status = 'lost'")
    assert kills >= 3 and lost >= 1  # the kills really interrupted running jobs


def _pg_ctl(pgdata: Path, *args: str) -> None:
    import pgserver

    pg_ctl = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_ctl"
    runner = ["runuser", "-u", "pgserver", "--"] if _owner(pgdata) == "pgserver" else []
    done = subprocess.run([*runner, str(pg_ctl), "-D", str(pgdata), "-w", *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"pg_ctl {' '.join(args)}: {done.stdout}{done.stderr}"


def _owner(path: Path) -> str:
    import pwd

    return pwd.getpwuid(path.stat().st_uid).pw_name


@pytest.fixture
def pg_home() -> Iterator[Path]:
    """A home for an embedded server outside pytest's ``/tmp/pytest-of-<user>``.

    Run as root, pgserver runs PostgreSQL's programs as its own ``pgserver`` user and opens the
    data folder's parents to it (o+rx). Every pytest session that starts on the machine (another
    checkout's, another CI job's) resets ``/tmp/pytest-of-root`` to 0700, after which pg_ctl
    fails with "could not access directory ...: Permission denied".
    """
    home = Path(tempfile.mkdtemp(prefix="titan-test-pg-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.mark.timeout(900)  # hang guard on a loaded machine; the waits inside are bounded
async def test_workers_ride_out_an_embedded_postgres_restart(pg_home: Path, titan_env: dict
                                                             ) -> None:
    """The embedded server is stopped for ~3 s mid-run and started again: the workers keep
    going by themselves and no job is lost or completed twice."""
    from worker.db.embedded import embedded_url

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        url = embedded_url(pg_home)
    pgdata = pg_home / "pgdata"
    upgrade(url)
    db = Database(url)
    env = {**titan_env, "DATABASE_URL": libpq_url(url)}
    workers: list[WorkerProcess] = []
    try:
        # Both workers are up before the jobs arrive: on a loaded machine one worker can take
        # longer to start than the other needs to run every job, and a worker that first meets
        # the database during the outage is not what this test is about.
        workers = [spawn_worker(env, "--concurrency", "2") for _ in range(2)]
        deadline = time.monotonic() + 240  # hang guard
        while await _count(db, "SELECT count(*) FROM workers WHERE status = 'running'") < 2:
            assert all(w.poll() is None for w in workers), "a worker exited at start-up"
            assert time.monotonic() < deadline, "the workers did not start"
            await asyncio.sleep(0.2)
        async with db.session() as s:
            await queue.enqueue_many(s, "noop", [{"sleep": 0.02}] * 600)
        await wait_until(lambda: _count(db, "SELECT count(*) FROM jobs WHERE status = 'succeeded'"),
                         240, "50 succeeded jobs", done=lambda n: n >= 50, interval=0.1)
        await db.dispose()
        _pg_ctl(pgdata, "-m", "fast", "stop")
        await asyncio.sleep(3)
        _pg_ctl(pgdata, "-o", f'-h "" -k {pgdata}', "-l", str(pgdata / "restart.log"), "start")
        deadline = time.monotonic() + 240  # hang guard
        while await _count(db, "SELECT count(*) FROM jobs WHERE status = 'succeeded'") < 600:
            assert all(w.poll() is None for w in workers), "a worker died in the outage"
            assert time.monotonic() < deadline, "the jobs did not finish after the restart"
            await asyncio.sleep(0.2)
        for w in workers:  # still running after the outage: stop them the normal way
            w.send_signal(signal.SIGTERM)
        outputs = [w.communicate(timeout=180)[0] for w in workers]
        assert [w.returncode for w in workers] == [0, 0], outputs[0][-3000:]
        assert await _count(db, "SELECT count(*) FROM jobs WHERE status = 'succeeded'") == 600
        assert await _count(db, "SELECT count(*) FROM runs WHERE status = 'succeeded'") == 600
        assert any("retrying" in out or "failed" in out for out in outputs)  # it noticed
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait(timeout=30)
        await db.dispose()
        # Started by pg_ctl, this server is no longer pgserver's to stop at exit.
        with contextlib.suppress(AssertionError, subprocess.SubprocessError, OSError):
            _pg_ctl(pgdata, "-m", "fast", "stop")


