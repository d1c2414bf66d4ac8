"""Alerts: raised once however many workers look, sent to a real HTTP receiver on loopback
that refuses the first tries, and never carrying a secret.

The receiver is a plain ``http.server`` answering like a Slack incoming webhook ("ok"), with
500 for its first ``fail_first`` requests.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import spawn_worker
from tests.helpers import wait_until
from worker.config import Settings
from worker.db.engine import Database
from worker.db.raw import WorkerConnection
from worker.logs import DatabaseLogSink, get_logger
from worker.services import alerts
from worker.services.alert_webhook import post
from worker.services.projects import ProjectService

SECRETS = {"OPS_TOKEN": "ops-secret-5b1e77", "GITHUB_TOKEN": "ghp_secret9c2d41aa",
           "TITAN_AI_KEY": "sk-secret-key-a81f"}
HOOK_KEY = "hook-secret-B07XYZ"  # the part of a webhook URL that is its key


class Receiver:
    """A loopback webhook: records every body; answers 500 to the first ``fail_first``."""

    def __init__(self, fail_first: int = 0, status_after: int = 200) -> None:
        self.fail_first = fail_first
        self.status_after = status_after
        self.bodies: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self.paths: list[str] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.raw.append(data)
                receiver.paths.append(self.path)
                receiver.bodies.append(json.loads(data))
                status = 500 if len(receiver.raw) <= receiver.fail_first \
                    else receiver.status_after
                receiver.answers.append(status)
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"error")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/services/T0/B0/{HOOK_KEY}"

    def delivered(self) -> list[dict[str, Any]]:
        """Bodies that were answered 200."""
        return [b for b, status in zip(self.bodies, self.answers, strict=True) if status == 200]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(fail_first=1) as r:
        yield r


def _settings(titan_env: dict, **extra: Any) -> Settings:
    return Settings(**{"TITAN_HOME": titan_env["TITAN_HOME"],
                       "DATABASE_URL": titan_env["DATABASE_URL"], **extra})


async def _dead_job(db: Database, kind: str, error: str) -> int:
    async with db.session() as session:
        return int(await session.scalar(text(
            "INSERT INTO jobs (kind, status, attempts, max_attempts, last_error, finished_at) "
            "VALUES (:kind, 'dead', 3, 3, :error, now()) RETURNING id"),
            {"kind": kind, "error": error}))


async def _alert_rows(db: Database) -> list[tuple[str, str, int]]:
    async with db.session() as session:
        rows = await session.execute(text("SELECT event, status, attempts FROM alerts ORDER BY id"))
        return [(r[0], r[1], r[2]) for r in rows]


async def test_each_event_is_raised_once_even_when_workers_look_together(
        titan_env: dict, db: Database, db_url: str) -> None:
    settings = _settings(titan_env, TITAN_ALERT_APPROVAL_MINUTES="30",
                         TITAN_ALERT_WORKER_STALE_SECONDS="60")
    projects = ProjectService.from_settings(db, settings)
    waiting = await projects.create({"name": "Waiting Bakery"})
    patient = await projects.create({"name": "Patient Bakery"})
    async with db.session() as session:
        # One waits past the limit; the other began waiting only 5 minutes ago.
        await session.execute(text(
            "UPDATE projects SET status = 'awaiting_approval', awaiting_since = now() - "
            "CASE WHEN id = :late THEN interval '31 minutes' ELSE interval '5 minutes' END"),
            {"late": waiting.id})
        await session.execute(text("""
            INSERT INTO workers (id, host, pid, version, status, last_heartbeat) VALUES
              ('silent-1', 'box-a', 4242, '1', 'running', now() - interval '5 minutes'),
              ('alive-1', 'box-b', 4343, '1', 'running', now()),
              ('gone-1', 'box-c', 4444, '1', 'stopped', now() - interval '5 minutes')"""))
    await _dead_job(db, "build", "RuntimeError: the build broke")
    # A backup that failed logs this entry (whatever process ran it); written here through the
    # real logging path, as a backup command would.
    sink = DatabaseLogSink(level=logging.INFO)
    logger = logging.getLogger("titan.backup")
    logger.addHandler(sink)
    try:
        get_logger("titan.backup").error("backup failed: pg_dump exited 1: disk full",
                                         event=alerts.BACKUP_FAILED_EVENT, file="/backups/x.dump")
        get_logger("titan.backup").error("something else failed", event="other.thing")
    finally:
        logger.removeHandler(sink)
    conn = WorkerConnection(db.url, "test")
    await sink.flush_to(conn)
    await conn.close()

    # Four "workers" look at the same moment, each on its own connections.
    lookers = [Database(db_url) for _ in range(4)]
    try:
        rounds = await asyncio.gather(*(alerts.detect(d, settings, worker_id=f"w{i}")
                                        for i, d in enumerate(lookers)))
        again = await alerts.detect(lookers[0], settings)
    finally:
        for d in lookers:
            await d.dispose()
    raised = [a for found in rounds for a in found]
    assert sorted(a.event for a in raised) == sorted(alerts.EVENTS), raised
    assert again == []  # nothing new: nothing raised twice
    by_event = {a.event: a for a in raised}
    assert by_event["approval.waiting"].project_id == waiting.id
    assert "Waiting Bakery has waited 31 minutes for approval" in by_event[
        "approval.waiting"].message
    assert patient.id not in {a.project_id for a in raised}
    assert "Worker silent-1 (host box-a, pid 4242)" in by_event["worker.stale"].message
    assert "is dead after 3 of 3 attempts: RuntimeError: the build broke" in by_event[
        "job.dead"].message
    assert by_event["backup.failed"].message == "backup failed: pg_dump exited 1: disk full"
    assert by_event["backup.failed"].details["file"] == "/backups/x.dump"
    # No webhook configured: recorded, not pending.
    assert {status for _, status, _ in await _alert_rows(db)} == {"recorded"}

    # The same project waiting again later is a new occurrence.
    async with db.session() as session:
        await session.execute(text("UPDATE projects SET awaiting_since = now() - "
                                   "interval '40 minutes' WHERE id = :id"), {"id": waiting.id})
    (later,) = await alerts.detect(db, settings)
    assert later.event == "approval.waiting" and later.project_id == waiting.id


async def test_post_retries_server_errors_but_not_a_refusal() -> None:
    with Receiver(fail_first=2) as flaky:
        sent, tries, error = await post(flaky.url, {"text": "hello"}, backoff=0.01)
        assert (sent, tries, error) == (True, 3, None)
        assert [b["text"] for b in flaky.bodies] == ["hello"] * 3
    with Receiver(status_after=404) as refusing:
        sent, tries, error = await post(refusing.url, {"text": "hello"}, backoff=0.01)
        assert (sent, tries, error) == (False, 1, "HTTP 404")  # no URL in the error
    with Receiver() as gone:
        url = gone.url
    sent, tries, error = await post(url, {"text": "hello"}, attempts=2, backoff=0.01)
    assert (sent, tries, error) == (False, 2, "ConnectError")


async def test_workers_send_a_dead_job_alert_once_without_secrets(
        titan_env: dict, db: Database, receiver: Receiver) -> None:
    env = {**titan_env, **SECRETS, "TITAN_ALERT_WEBHOOK": receiver.url,
           "TITAN_ALERT_CHECK_SECONDS": "0.3"}
    # A job no worker can run dies at once; its error quotes the token (a careless handler
    # could do that): the alert must not carry it.
    first = await _dead_job(db, "build", f"HTTPError: 401 for token {SECRETS['OPS_TOKEN']}")
    workers = [spawn_worker(env, "--concurrency", "1") for _ in range(2)]
    try:
        await wait_until(lambda: len(receiver.delivered()) >= 1, 60, "the first alert sent",
                         give_up=lambda: next((f"worker exited {w.poll()}" for w in workers
                                               if w.poll() is not None), None))
        # Rounds go on: a second dead job is sent too, after the first was long done...
        second = await _dead_job(db, "deploy", "OSError: no space left on device")
        await wait_until(lambda: len(receiver.delivered()) >= 2, 60, "the second alert sent")
        await wait_until(lambda: _alert_rows(db), 30, "both recorded as sent",
                         done=lambda rows: [r[1] for r in rows] == ["sent", "sent"])
    finally:
        for w in workers:
            w.terminate()
        logs = [w.communicate(timeout=60)[0] for w in workers]

    # ... and each alert went out exactly once (one refused try, then one delivery).
    texts = [b["text"] for b in receiver.delivered()]
    assert len(texts) == 2, texts
    assert f"Job #{first} (build) is dead after 3 of 3 attempts" in texts[0]
    assert f"Job #{second} (deploy) is dead" in texts[1]
    assert receiver.answers[0] == 500 and receiver.bodies[0] == receiver.bodies[1]
    body = receiver.bodies[0]
    assert body["blocks"][0]["text"]["text"] == "Titan alert: Job failed for good"
    assert "token ***" in body["text"]
    rows = await _alert_rows(db)
    assert rows == [("job.dead", "sent", 2), ("job.dead", "sent", 1)]
    # No secret anywhere: not in what was sent, not in the workers' output or stored log.
    async with db.session() as session:
        stored = "\n".join(str(m) for m in (await session.scalars(text(
            "SELECT message || ' ' || extra::text FROM log_entries"))).all())
    for where, content in [("webhook bodies", b"".join(receiver.raw).decode()),
                           ("worker output", "\n".join(logs)), ("log_entries", stored)]:
        for secret in [*SECRETS.values(), HOOK_KEY]:
            assert secret not in content, f"{secret} appears in the {where}"
    assert "alert: Job failed for good" in stored  # the alert is in the log too


async def test_an_alert_left_pending_by_a_dead_worker_is_sent_by_another(
        titan_env: dict, db: Database) -> None:
    with Receiver() as hook:
        settings = _settings(titan_env, TITAN_ALERT_WEBHOOK=hook.url)
        async with db.session() as session:
            # Raised by a worker that died before it could send it (3 minutes ago), and one
            # another worker is sending right now (not to be sent twice).
            await session.execute(text("""
                INSERT INTO alerts (key, event, title, message, status, claimed_at) VALUES
                  ('job.dead:1', 'job.dead', 'Job failed for good', 'orphaned', 'pending',
                   now() - interval '3 minutes'),
                  ('job.dead:2', 'job.dead', 'Job failed for good', 'in flight', 'pending',
                   now())"""))
        assert await alerts.run_round(db, settings) == []  # nothing new was raised...
        assert [b["blocks"][1]["text"]["text"] for b in hook.bodies] == ["orphaned"]  # ...sent
        assert await _alert_rows(db) == [("job.dead", "sent", 1), ("job.dead", "pending", 0)]


async def test_a_killed_worker_is_reported_by_the_one_still_running(
        titan_env: dict, db: Database) -> None:
    with Receiver() as hook:
        env = {**titan_env, "TITAN_ALERT_WEBHOOK": hook.url, "TITAN_ALERT_CHECK_SECONDS": "0.3",
               "TITAN_ALERT_WORKER_STALE_SECONDS": "3"}
        doomed, survivor = spawn_worker(env), spawn_worker(env)

        async def registered() -> int:
            async with db.session() as session:
                return int(await session.scalar(text(
                    "SELECT count(*) FROM workers WHERE status = 'running'")) or 0)

        try:
            await wait_until(lambda: registered(), 60, "both workers registered",
                             done=lambda n: n == 2)
            doomed.kill()  # SIGKILL: no goodbye, its row stays "running"
            doomed.wait(30)
            await wait_until(lambda: hook.delivered(), 60, "the stale-worker alert",
                             give_up=lambda: None if survivor.poll() is None
                             else "the survivor exited")
        finally:
            survivor.terminate()
            survivor.communicate(timeout=60)
        async with db.session() as session:
            host, = (await session.execute(text(
                "SELECT host FROM workers WHERE pid = :pid"), {"pid": doomed.pid})).one()
        (body,) = hook.delivered()
        assert body["blocks"][0]["text"]["text"] == "Titan alert: Worker stopped heart-beating"
        assert f"(host {host}, pid {doomed.pid}) is marked running" in body["text"]


async def test_a_real_failed_backup_raises_a_backup_alert(titan_env: dict, db: Database,
                                                           tmp_path: Path) -> None:
    from worker.services.backups import BACKUP_FAILED, BackupError, back_up

    assert BACKUP_FAILED == alerts.BACKUP_FAILED_EVENT  # one name on both sides
    empty = tmp_path / "no-pg-tools"
    empty.mkdir()
    settings = _settings(titan_env, TITAN_PG_BIN=str(empty))
    sink = DatabaseLogSink(level=logging.INFO)
    logging.getLogger().addHandler(sink)  # what a worker (the daily backup's home) has
    try:
        with pytest.raises(BackupError):
            await back_up(settings)
    finally:
        logging.getLogger().removeHandler(sink)
    conn = WorkerConnection(db.url, "test")
    await sink.flush_to(conn)
    await conn.close()
    (alert,) = await alerts.detect(db, settings)
    assert alert.event == "backup.failed" and alert.title == "Backup failed"
    assert alert.message.startswith("backup failed: ")
    assert await alerts.detect(db, settings) == []
