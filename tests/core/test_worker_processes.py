"""Real worker processes against a real PostgreSQL: exclusivity, crashes, shutdown, wake-up."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from pathlib import Path

from sqlalchemy import text

from tests.conftest import spawn_worker
from tests.helpers import wait_until
from worker import queue
from worker.db.engine import Database
from worker.queue import NewJob


async def _scalar(db: Database, sql: str, **params: object) -> object:
    async with db.session() as s:
        return (await s.execute(text(sql), params)).scalar()


async def _wait_for(db: Database, sql: str, expected: object, timeout: float = 30, **params: object
                    ) -> object:
    return await wait_until(lambda: _scalar(db, sql, **params), timeout,
                            f"{sql!r} == {expected!r}", done=lambda value: value == expected,
                            interval=0.1)


async def test_four_workers_run_2000_jobs_each_exactly_once(any_db_url: str, titan_env: dict,
                                                            tmp_path) -> None:
    env = {**titan_env, "DATABASE_URL": any_db_url.replace("+psycopg", "")}
    marker = Path(titan_env["TITAN_HOME"]) / "work" / "executions.txt"  # noop writes only there
    db = Database(any_db_url)
    try:
        async with db.session() as s:
            # 10 ms each: true no-ops all finish in the first worker's first claims (it claims
            # ahead ~250 ms of work per slot) before the others have started.
            await queue.enqueue_many(s, "noop", [{"touch": str(marker), "sleep": 0.01}] * 2000)
        workers = [spawn_worker(env, "--exit-when-idle", "--concurrency", "8") for _ in range(4)]
        outputs = [w.communicate(timeout=180)[0] for w in workers]
        assert [w.returncode for w in workers] == [0, 0, 0, 0], outputs[0][-2000:]

        executions = Counter(line.split()[0] for line in marker.read_text().splitlines())
        assert len(executions) == 2000 and set(executions.values()) == {1}
        assert await _scalar(db, "SELECT count(*) FROM jobs WHERE status = 'succeeded'") == 2000
        assert await _scalar(db, "SELECT count(*) FROM runs") == 2000
        # the work was shared: more than one worker process claimed jobs
        assert await _scalar(db, "SELECT count(DISTINCT worker_id) FROM runs") > 1
        assert await _scalar(db, "SELECT count(*) FROM workers WHERE status = 'stopped'") == 4
    finally:
        await db.dispose()


async def test_killed_worker_job_is_reclaimed_after_lease_and_finishes_once(
        titan_env: dict, db: Database) -> None:
    env = {**titan_env, "TITAN_JOB_LEASE_SECONDS": "2", "TITAN_HEARTBEAT_SECONDS": "0.5"}
    async with db.session() as s:
        job_id = await queue.enqueue(s, NewJob("noop", payload={"sleep": 60, "sleep_attempts": 1}))
    doomed = spawn_worker(env, "--concurrency", "1")
    await _wait_for(db, "SELECT status FROM jobs WHERE id = :id", "running", id=job_id)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)

    rescuer = spawn_worker(env, "--exit-when-idle")
    output = rescuer.communicate(timeout=60)[0]
    assert rescuer.returncode == 0, output[-2000:]
    async with db.session() as s:
        runs = (await s.execute(text(
            "SELECT status, error FROM runs WHERE job_id = :id ORDER BY id"), {"id": job_id})).all()
    assert [r.status for r in runs] == ["lost", "succeeded"]
    assert "lease expired" in runs[0].error
    assert await _scalar(db, "SELECT status FROM jobs WHERE id = :id", id=job_id) == "succeeded"
    assert "reclaimed job" in output


async def test_sigterm_lets_running_job_finish_then_exits(titan_env: dict, db: Database) -> None:
    async with db.session() as s:
        job_id = await queue.enqueue(s, NewJob("noop", payload={"sleep": 1.5}))
        waiting = await queue.enqueue(s, NewJob("noop", run_at=None, delay_seconds=0.0,
                                                priority=-1))
    worker = spawn_worker(titan_env, "--concurrency", "1")
    await _wait_for(db, "SELECT status FROM jobs WHERE id = :id", "running", id=job_id)
    worker.send_signal(signal.SIGTERM)
    output = worker.communicate(timeout=30)[0]
    assert worker.returncode == 0, output[-2000:]
    assert await _scalar(db, "SELECT status FROM jobs WHERE id = :id", id=job_id) == "succeeded"
    # it stopped claiming: the lower-priority job is still waiting for the next worker
    assert await _scalar(db, "SELECT status FROM jobs WHERE id = :id", id=waiting) == "queued"
    assert await _scalar(db, "SELECT status FROM workers") == "stopped"


async def test_sigterm_past_grace_releases_the_unfinished_job(titan_env: dict, db: Database
                                                              ) -> None:
    async with db.session() as s:
        job_id = await queue.enqueue(s, NewJob("noop", payload={"sleep": 60}))
    worker = spawn_worker(titan_env, "--concurrency", "1", "--grace", "0.5")
    await _wait_for(db, "SELECT status FROM jobs WHERE id = :id", "running", id=job_id)
    worker.send_signal(signal.SIGTERM)
    output = worker.communicate(timeout=30)[0]
    assert worker.returncode == 0, output[-2000:]
    async with db.session() as s:
        job = (await s.execute(text("SELECT status, attempts, locked_by FROM jobs WHERE id = :id"),
                               {"id": job_id})).one()
        run = (await s.execute(text("SELECT status FROM runs WHERE job_id = :id"),
                               {"id": job_id})).scalar()
    assert (job.status, job.attempts, job.locked_by) == ("queued", 0, None)
    assert run == "released"


async def test_notify_wakes_an_idle_worker_long_before_its_poll(titan_env: dict, db: Database
                                                               ) -> None:
    env = {**titan_env, "TITAN_POLL_SECONDS": "60"}  # only NOTIFY can wake it in time
    worker = spawn_worker(env, "--concurrency", "1")
    try:
        await _wait_for(db, "SELECT count(*) FROM workers WHERE status = 'running'", 1)
        await asyncio.sleep(1.0)  # let it reach its idle wait
        async with db.session() as s:
            job_id = await queue.enqueue(s, NewJob("noop"))
        await _wait_for(db, "SELECT status FROM jobs WHERE id = :id", "succeeded", timeout=10,
                        id=job_id)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)


async def test_pause_command_stops_claiming_until_resumed(titan_env: dict, db: Database) -> None:
    env = {**titan_env, "TITAN_HEARTBEAT_SECONDS": "0.3"}
    worker = spawn_worker(env, "--concurrency", "1")
    try:
        await _wait_for(db, "SELECT count(*) FROM workers WHERE status = 'running'", 1)
        async with db.session() as s:
            await s.execute(text("UPDATE workers SET command = 'pause'"))
        await _wait_for(db, "SELECT status FROM workers", "paused")
        async with db.session() as s:
            job_id = await queue.enqueue(s, NewJob("noop"))
        await asyncio.sleep(1.5)
        assert await _scalar(db, "SELECT status FROM jobs WHERE id = :id", id=job_id) == "queued"
        async with db.session() as s:
            await s.execute(text("UPDATE workers SET command = 'resume'"))
        await _wait_for(db, "SELECT status FROM jobs WHERE id = :id", "succeeded", id=job_id)
    finally:
        os.kill(worker.pid, signal.SIGTERM)
        worker.communicate(timeout=30)
