"""The workers service against the real test database: who is alive, commands, queue counts.

The runner's side (register, beat, unregister) runs on a real psycopg connection, as in the
worker, so a command sent by a front end is seen — and cleared — by the next heartbeat.
"""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from worker.db.engine import Database, libpq_url
from worker.services import workers
from worker.services.workers import WorkerService


async def _register(conn: psycopg.AsyncConnection, worker_id: str, pid: int) -> None:
    await workers.register(conn, worker_id=worker_id, host="box", pid=pid, version="t",
                           concurrency=2)


async def test_live_lists_fresh_workers_and_skips_stale_and_stopped(db_url: str,
                                                                    db: Database) -> None:
    async with await psycopg.AsyncConnection.connect(libpq_url(db_url),
                                                     autocommit=True) as conn:
        for n, worker_id in enumerate(("fresh", "stale", "stopped"), start=1):
            await _register(conn, worker_id, 100 + n)
        await workers.unregister(conn, worker_id="stopped", succeeded=3, failed=1)
    async with db.session() as s:
        await s.execute(text("UPDATE workers SET last_heartbeat = now() - interval '1 minute' "
                             "WHERE id = 'stale'"))
    service = WorkerService(db)

    live = await service.live(fresh_seconds=10)
    assert [(w.id, w.host, w.pid, w.status) for w in live] == [("fresh", "box", 101, "running")]
    assert live[0].heartbeat_age() < 10

    listed = {w.id: w for w in await service.not_stopped()}
    assert sorted(listed) == ["fresh", "stale"]  # /health shows the stale one, by its age
    assert 55 < listed["stale"].age_seconds < 120


async def test_a_command_reaches_the_worker_once(db_url: str, db: Database) -> None:
    service = WorkerService(db)
    async with await psycopg.AsyncConnection.connect(libpq_url(db_url),
                                                     autocommit=True) as conn:
        await _register(conn, "w1", 1)
        assert await service.send("w1", "pause") is True
        assert await service.send("nobody", "pause") is False
        async with conn.transaction():
            found, command = await workers.beat(conn, worker_id="w1", status="paused",
                                                succeeded=0, failed=0)
        assert (found, command) == (True, "pause")
        async with conn.transaction():  # the beat cleared it
            assert await workers.beat(conn, worker_id="w1", status="paused", succeeded=0,
                                      failed=0) == (True, None)
        async with conn.transaction():  # a vanished row tells the runner to register again
            assert await workers.beat(conn, worker_id="gone", status="running", succeeded=0,
                                      failed=0) == (False, None)
    [info] = await service.live()
    assert info.status == "paused"


async def test_send_all_tells_every_live_worker(db_url: str, db: Database) -> None:
    service = WorkerService(db)
    assert await service.send_all("pause") == 0
    async with await psycopg.AsyncConnection.connect(libpq_url(db_url),
                                                     autocommit=True) as conn:
        await _register(conn, "a", 1)
        await _register(conn, "b", 2)
        await _register(conn, "old", 3)
    async with db.session() as s:
        await s.execute(text("UPDATE workers SET last_heartbeat = now() - interval '5 minutes' "
                             "WHERE id = 'old'"))
    assert await service.send_all("resume") == 2
    async with db.session() as s:
        commands = dict((await s.execute(text("SELECT id, command FROM workers"))).all())
    assert commands == {"a": "resume", "b": "resume", "old": None}


async def test_unknown_command_is_refused_and_writes_nothing(db_url: str, db: Database) -> None:
    async with await psycopg.AsyncConnection.connect(libpq_url(db_url),
                                                     autocommit=True) as conn:
        await _register(conn, "w", 1)
    service = WorkerService(db)
    with pytest.raises(ValueError, match="not a worker command"):
        await service.send("w", "explode")
    with pytest.raises(ValueError):
        await service.send_all("restart")
    async with db.session() as s:
        assert (await s.execute(text("SELECT command FROM workers"))).scalar_one() is None


async def test_queue_counts_by_status(db: Database) -> None:
    service = WorkerService(db)
    assert await service.queue_counts() == {}
    async with db.session() as s:
        await s.execute(text("""
            INSERT INTO jobs (kind, status, payload) VALUES
              ('scaffold', 'queued', '{}'), ('build', 'queued', '{}'), ('deploy', 'failed', '{}')
        """))
    assert await service.queue_counts() == {"queued": 2, "failed": 1}


async def test_details_show_version_start_counters_and_current_jobs(db_url: str,
                                                                    db: Database) -> None:
    async with await psycopg.AsyncConnection.connect(libpq_url(db_url),
                                                     autocommit=True) as conn:
        await _register(conn, "busy", 11)
        await _register(conn, "idle", 12)
        await _register(conn, "gone", 13)
        await _register(conn, "long-gone", 14)
        async with conn.transaction():
            await workers.beat(conn, worker_id="busy", status="running", succeeded=40, failed=2)
        await workers.unregister(conn, worker_id="gone", succeeded=5, failed=0)
        await workers.unregister(conn, worker_id="long-gone", succeeded=1, failed=0)
    async with db.session() as s:
        await s.execute(text("""
            UPDATE workers SET stopped_at = now() - interval '2 hours' WHERE id = 'long-gone';
            INSERT INTO jobs (kind, status, locked_by, started_at) VALUES
              ('build', 'running', 'busy', now()), ('deploy', 'running', 'busy', now()),
              ('scaffold', 'succeeded', 'busy', now())"""))
    service = WorkerService(db)

    shown = {w.id: w for w in await service.details()}
    assert sorted(shown) == ["busy", "gone", "idle"]  # stopped two hours ago: not listed
    busy = shown["busy"]
    assert (busy.host, busy.pid, busy.version, busy.concurrency) == ("box", 11, "t", 2)
    assert (busy.processed, busy.jobs_failed) == (42, 2)
    assert [job.kind for job in busy.current_jobs] == ["build", "deploy"]
    assert shown["idle"].current_jobs == ()
    assert shown["gone"].status == "stopped" and shown["gone"].stopped_at is not None
    assert busy.started_at <= busy.last_heartbeat
    assert 0 <= busy.age_seconds < 30

    old = await service.detail("long-gone")
    assert old is not None and old.status == "stopped"
    assert await service.detail("nobody") is None
