"""The server deployment: headless workers on separate machines sharing one PostgreSQL.

Two ``titan worker`` processes are started separately, each with its own TITAN_HOME (as on two
machines), both pointed by DATABASE_URL at the PostgreSQL server on 127.0.0.1:5432 — exactly what
README "Running on a server" tells an operator to do. Then 2,000 jobs arrive, and systemd's way of
stopping a worker (SIGTERM) ends them.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import make_url, text

from tests.conftest import ROOT
from tests.helpers import wait_until
from worker import queue
from worker.db.engine import Database

JOBS = 2000


class Machine:
    """``titan worker`` as the systemd unit runs it, on a 'machine' whose data lives in home."""

    def __init__(self, env: dict, home: Path) -> None:
        home.mkdir(parents=True)
        self.home = home
        self.log = home / "worker.log"  # a file, not a pipe: a full pipe would stall the worker
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "titan_desktop.launcher", "worker", "--concurrency", "4",
                 "--grace", "10"],
                env={**env, "TITAN_HOME": str(home)}, stdout=out, stderr=subprocess.STDOUT,
                cwd=ROOT)

    def tail(self) -> str:
        return self.log.read_text()[-1500:]


async def scalar(db: Database, sql: str) -> object:
    async with db.session() as s:
        return (await s.execute(text(sql))).scalar()


async def reaches(db: Database, sql: str, expected: object, machines: list[Machine],
                  timeout: float = 180) -> None:
    def worker_died() -> str | None:  # no point waiting
        return "a worker died" if any(m.process.poll() is not None for m in machines) else None

    try:
        await wait_until(lambda: scalar(db, sql), timeout, f"{sql!r} == {expected!r}",
                         done=lambda value: value == expected, interval=0.2,
                         give_up=worker_died)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; worker logs: {[m.tail() for m in machines]}") from None


async def test_two_server_workers_split_2000_jobs_and_run_none_twice(
        db_url: str, titan_env: dict, tmp_path: Path) -> None:
    if not make_url(db_url).host:
        pytest.skip("needs a PostgreSQL server over TCP (127.0.0.1:5432), not the embedded one")
    # Every job appends a line to executions.txt in its machine's work folder when it runs.
    machines = [Machine(titan_env, tmp_path / name) for name in ("machine-a", "machine-b")]
    db = Database(db_url)
    try:
        # Both are up and listening before the work arrives, so either may take any job.
        await reaches(db, "SELECT count(*) FROM workers WHERE status = 'running'", 2, machines)
        async with db.session() as s:
            await queue.enqueue_many(s, "noop", [{"touch": "executions.txt"}] * JOBS)
        await reaches(db, "SELECT count(*) FROM jobs WHERE status = 'succeeded'", JOBS, machines)

        for machine in machines:  # what `systemctl stop titan-worker` does
            machine.process.send_signal(signal.SIGTERM)
        codes = [m.process.wait(timeout=60) for m in machines]
        assert codes == [0, 0], [m.tail() for m in machines]

        ran = Counter(line.split()[0] for m in machines
                      for line in (m.home / "work" / "executions.txt").read_text().splitlines())
        assert len(ran) == JOBS
        assert [job for job, times in ran.items() if times > 1] == []
        async with db.session() as s:
            runs_per_job = (await s.execute(text(
                "SELECT job_id, count(*) FROM runs GROUP BY job_id HAVING count(*) > 1"))).all()
            per_worker = dict((await s.execute(text(
                "SELECT worker_id, count(*) FROM runs GROUP BY worker_id"))).all())
            stopped = await s.scalar(text("SELECT count(*) FROM workers WHERE status = 'stopped'"))
        assert runs_per_job == []
        # the two machines shared the work: each ran some, together exactly all of it
        assert len(per_worker) == 2 and min(per_worker.values()) > 0, per_worker
        assert sum(per_worker.values()) == JOBS
        assert stopped == 2
    finally:
        for machine in machines:
            if machine.process.poll() is None:
                machine.process.kill()
                machine.process.wait()
        await db.dispose()
