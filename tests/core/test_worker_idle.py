"""``titan worker --exit-when-idle`` exits when nothing is runnable now, and finishes retries
(work in progress) before it does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from tests.conftest import titan
from worker import queue
from worker.db.engine import Database
from worker.queue import NewJob


async def test_exits_while_a_job_waits_hours_ahead_but_finishes_retries(titan_env: dict,
                                                                        db: Database) -> None:
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    async with db.session() as s:
        far = await queue.enqueue(s, NewJob("noop", run_at=later))  # e.g. an approval timeout
        soon = await queue.enqueue(s, NewJob("noop", delay_seconds=1.5))
        # Fails, is retried after a ~1 s backoff, fails for good: both attempts must run.
        retried = await queue.enqueue(s, NewJob("fail", max_attempts=2))

    env = {**titan_env, "TITAN_RETRY_BASE_SECONDS": "1"}
    worker = titan(env, "worker", "--exit-when-idle", timeout=60)

    assert worker.returncode == 0, worker.stderr[-2000:]
    assert (f"idle: nothing runnable now; 1 job scheduled for {later:%Y-%m-%dT%H:%M}Z"
            in worker.stdout), worker.stdout[-2000:]
    async with db.session() as s:
        rows = dict((await s.execute(text("SELECT id, status || ' ' || attempts FROM jobs"))
                     ).all())
    assert rows == {far: "queued 0", soon: "succeeded 1", retried: "dead 2"}
