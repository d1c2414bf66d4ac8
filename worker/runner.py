"""``titan worker``: claim jobs, run their handlers, record the outcome.

Wakes on NOTIFY ``titan_jobs``, a 500 ms poll, or a stop event, whichever comes first. Claimed
jobs hold a lease the heartbeat extends; completions are written in batches. SIGTERM/SIGINT stop
claiming, let running jobs finish within a grace period, and release the rest to the queue.

The worker's own statements (claim, complete, fail, heartbeat) run on three plain autocommit
psycopg connections, one per loop, so they neither wait on each other nor pay for a pool and
SQLAlchemy; handlers and Jason's overdue decisions use ``Database`` sessions as services do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import UTC

import psycopg

from worker import __version__, queue, sandbox
from worker.config import Settings
from worker.db.engine import Database
from worker.db.raw import WorkerConnection, libpq_url
from worker.handlers import JobContext, PermanentError, Registry
from worker.logs import DatabaseLogSink, bind_context, get_logger, log_context
from worker.queue import ClaimedJob, NewJob
from worker.retry import RetryPolicy
from worker.services import workers
from worker.services.overdue import ANY_OVERDUE

log = get_logger("titan.worker")

HEARTBEAT_LOG_SECONDS = 60.0
# Jobs shorter than this (on average) are claimed ahead of free slots, in batches: for them the
# database round trips, not the work, are the cost. Longer jobs are claimed one per free slot so
# that other workers get their share.
SHORT_JOB_MS = 50.0
# How far ahead: at most this many jobs, and at most this much work per slot (by the recent
# average), so a worker never sits on more than a fraction of a second of other workers' jobs.
PREFETCH_LIMIT = 500
PREFETCH_MS_PER_SLOT = 250.0
# --exit-when-idle waits for jobs due soon: a first attempt due within this many seconds, and
# any retry (its backoff is capped by the retry policy). Jobs further ahead (an approval
# timeout hours away) do not keep the worker up; the next worker runs them.
IDLE_HORIZON_SECONDS = 30.0
_WAITING_FOR = """
    SELECT count(*) FILTER (WHERE status = 'running'
                              OR run_at <= now() + make_interval(secs => %(horizon)s)
                              OR (attempts > 0
                                  AND run_at <= now() + make_interval(secs => %(retry)s))),
           count(*) FILTER (WHERE status = 'queued'),
           min(run_at) FILTER (WHERE status = 'queued')
    FROM jobs WHERE status IN ('queued', 'running')
"""


@dataclass
class _Finished:
    job: ClaimedJob
    duration_ms: float
    followups: list[NewJob]


class Worker:
    def __init__(
        self, db: Database, settings: Settings, registry: Registry, *, concurrency: int = 4,
        batch_size: int | None = None, exit_when_idle: bool = False, grace_seconds: float = 30.0,
        worker_id: str | None = None, log_sink: DatabaseLogSink | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.registry = registry
        self.concurrency = max(1, concurrency)
        # How many jobs one claim may take; with short jobs the worker prefetches up to this
        # many beyond its concurrency (see _capacity).
        self.batch_size = batch_size or max(self.concurrency, PREFETCH_LIMIT)
        # Claimed jobs wait in _ready for one of `concurrency` slot tasks: long-lived tasks
        # that run one job after another (a task per job cost more than a no-op job itself).
        self._ready: asyncio.Queue[ClaimedJob | None] = asyncio.Queue()
        self._current: dict[int, tuple[ClaimedJob, asyncio.Task[None]]] = {}  # job id -> slot
        self._not_started: list[ClaimedJob] = []  # taken from _ready after stop: released
        self._slot_tasks: list[asyncio.Task[None]] = []
        self._recent_ms = 0.0  # moving average of handler durations
        self._observed = 0
        self.exit_when_idle = exit_when_idle
        self.grace_seconds = grace_seconds
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.log_sink = log_sink
        self._claim_conn = WorkerConnection(db.url, "claim")
        self._done_conn = WorkerConnection(db.url, "done")  # completions, failures, releases
        self._beat_conn = WorkerConnection(db.url, "heartbeat")
        self._deciding = asyncio.Lock()
        self._alerting = asyncio.Event()  # set while no alert round is under way
        self._alerting.set()
        self.policy = RetryPolicy(base_seconds=settings.retry_base_seconds)
        self.lease = settings.job_lease_seconds

        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._paused = False
        self._held: dict[int, ClaimedJob] = {}  # claimed and not finished: under our lease
        self._finished: list[_Finished] = []
        self._flush_needed = asyncio.Event()
        self._succeeded = 0
        self._failed = 0
        self.listening = False
        self._idle_message = "queue is empty: exiting (--exit-when-idle)"

    # -- lifecycle ---------------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info(f"received {sig.name}: finishing running jobs, claiming no more",
                 grace_seconds=self.grace_seconds)
        self.request_stop()

    async def run(self) -> int:
        bind_context(worker_id=self.id)
        await self._register()
        log.info("worker started", concurrency=self.concurrency, pid=os.getpid(),
                 version=__version__)
        helpers = [
            asyncio.create_task(self._listen(), name="listen"),
            asyncio.create_task(self._heartbeat(), name="heartbeat"),
            asyncio.create_task(self._flush_completions(), name="completions"),
            asyncio.create_task(self._watch_alerts(), name="alerts"),
        ]
        self._slot_tasks = [asyncio.create_task(self._slot(), name=f"slot-{i}")
                            for i in range(self.concurrency)]
        restoring = asyncio.create_task(self._restore_served(), name="restore")
        if self.settings.embedded:
            helpers.append(asyncio.create_task(self._watch_embedded(), name="embedded"))
            if self.settings.backup:
                helpers.append(asyncio.create_task(self._daily_backups(), name="backups"))
        try:
            await self._claim_loop()
            await self._drain()
        finally:
            self._stop.set()
            # Published sites and services must be back before a short-lived worker exits.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(restoring, 90)
            self._flush_needed.set()
            await self._write_completions()
            # A round under way finishes first: cut off between its POST and recording it, an
            # alert would be sent again by another worker.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._alerting.wait(), 15)
            if self.exit_when_idle and self._failed:
                # A short-lived worker whose jobs failed raises their alerts before it goes.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._alert_round(), 30)
            for task in helpers + self._slot_tasks:
                task.cancel()
            await asyncio.gather(*helpers, *self._slot_tasks, return_exceptions=True)
            # A cancelled job's sandbox kills its own process group; this catches any left.
            sandbox.terminate_all()
            await self._unregister()
            log.info("worker stopped", succeeded=self._succeeded, failed=self._failed)
            await self._flush_logs()
            for conn in (self._claim_conn, self._done_conn, self._beat_conn):
                await conn.close()
        return 0

    async def _restore_served(self) -> None:
        """Bring published sites and services back (after a reboot) and fix moved URLs."""
        from worker.services.served import restore_served

        try:
            await restore_served(self._beat_conn.use, self.settings)
        except Exception as exc:
            log.warning("could not bring published projects back online", error=_short(exc))

    async def _watch_alerts(self) -> None:
        """Look for alerts every TITAN_ALERT_CHECK_SECONDS (worker.services.alerts), in a task
        of its own: a webhook that retries must not delay heartbeats or claims."""
        while not self._stop.is_set():
            await asyncio.sleep(self.settings.alert_check_seconds)
            self._alerting.clear()
            try:
                await self._alert_round()
            except Exception as exc:
                log.warning("alert check failed", error=_short(exc))
            finally:
                self._alerting.set()

    async def _alert_round(self) -> None:
        import importlib

        # Imported off the loop: loading SQLAlchemy would stall job pickup for a moment.
        alerts = await asyncio.to_thread(importlib.import_module, "worker.services.alerts")
        await alerts.run_round(self.db, self.settings, worker_id=self.id)

    async def _watch_embedded(self) -> None:
        """The embedded PostgreSQL died (a crash, an OOM kill)? Start it again: this worker
        holds a handle on it, so nobody else may be there to (a headless worker). The
        connections reconnect by themselves once it answers."""
        from worker.db.embedded import embedded_server_alive, restart_embedded_server

        home = self.settings.titan_home
        delay = 1.0
        while not self._stop.is_set():
            await asyncio.sleep(delay)
            if embedded_server_alive(home):
                delay = 1.0
                continue
            try:
                pid = await asyncio.to_thread(restart_embedded_server, home)
            except Exception as exc:  # e.g. old backends still hold its shared memory
                log.warning("embedded PostgreSQL is down; could not start it yet",
                            error=_short(exc))
                delay = min(delay * 2, 10.0)
                continue
            if pid:
                log.warning("embedded PostgreSQL had stopped; restarted it", pid=pid)
                self._wake.set()

    async def _daily_backups(self) -> None:
        """The embedded database's daily backup (worker/services/backups.py): looked at on
        start and every few minutes; one worker makes it, the others find it made. Failures
        are logged there (event ``backup.failed``) and retried an hour later."""
        from worker.services.backups import CHECK_SECONDS, daily_backup

        while not self._stop.is_set():
            try:
                await daily_backup(self.settings, self.db.url)
            except Exception as exc:  # the database away for a moment: look again later
                log.warning("could not look whether the daily backup is due", error=_short(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), CHECK_SECONDS)

    # -- claiming ----------------------------------------------------------------------------

    def _capacity(self) -> int:
        """Jobs this worker may hold: its concurrency, or up to the batch size ahead of it
        while recent jobs have been short."""
        if self._observed < self.concurrency or self._recent_ms >= SHORT_JOB_MS:
            return self.concurrency
        ahead = self.concurrency * PREFETCH_MS_PER_SLOT / max(self._recent_ms, 0.01)
        # Up to two batches: the next claim runs while the slots work through the last one.
        return max(self.concurrency, min(2 * self.batch_size, int(ahead)))

    def _in_flight(self) -> int:
        """Handlers running, plus finished ones beyond a backlog of unrecorded completions.

        Claiming overlaps with writing completions; the backlog bound keeps a slow database
        from letting finished-but-unrecorded jobs pile up.
        """
        return len(self._held) + max(0, len(self._finished) - self.batch_size)

    async def _claim_loop(self) -> None:
        poll = self.settings.poll_interval_seconds
        while not self._stop.is_set():
            self._wake.clear()
            claimed = 0
            free = self._capacity() - self._in_flight()
            if free > 0 and not self._paused:
                try:
                    claimed = await self._claim(min(free, self.batch_size))
                except (OSError, psycopg.Error, Exception) as exc:  # database away: keep trying
                    if self._stop.is_set():
                        break
                    log.warning("claim failed; retrying", error=_short(exc))
                    await self._sleep(poll * 2)
                    continue
            if claimed and self._in_flight() < self._capacity():
                continue  # more may be due right now
            if (self.exit_when_idle and not claimed and not self._in_flight()
                    and not self._paused and not await self._has_pending(decide=True)):
                log.info(self._idle_message)
                return
            await self._sleep(poll)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _claim(self, batch: int) -> int:
        async with self._claim_conn.use() as conn:
            jobs = await queue.claim(conn, self.id, batch=batch, lease_seconds=self.lease)
        for job in jobs:
            self._held[job.id] = job
            self._ready.put_nowait(job)
        return len(jobs)

    async def _has_pending(self, *, decide: bool = False) -> bool:
        """Any job running, due now or soon (see IDLE_HORIZON_SECONDS)? First lets Jason decide
        overdue approvals, whose publish jobs would otherwise be missed by a worker about to
        exit. Sets ``_idle_message`` for the exit line."""
        try:
            if decide and await self._decide_overdue():
                return True
            async with self._beat_conn.use() as conn:
                cur = await conn.execute(_WAITING_FOR, {
                    "horizon": IDLE_HORIZON_SECONDS,
                    "retry": self.policy.max_seconds * (1 + self.policy.jitter)})
                row = await cur.fetchone()
        except Exception:
            return True
        waiting, scheduled, first = row if row else (0, 0, None)
        if waiting:
            return True
        if scheduled:
            assert first is not None  # min(run_at) of the scheduled jobs counted
            when = first.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
            jobs = "1 job scheduled for" if scheduled == 1 else \
                f"{scheduled} jobs scheduled, the first for"
            self._idle_message = (f"idle: nothing runnable now; {jobs} {when}; "
                                  "exiting (--exit-when-idle)")
        else:
            self._idle_message = "queue is empty: exiting (--exit-when-idle)"
        return False

    async def _decide_overdue(self) -> bool:
        """Let Jason decide approvals nobody answered in time. A cheap check comes first: the
        decision service (and SQLAlchemy) is only loaded when something is overdue.

        One decision round at a time: the heartbeat's round holds the projects it decides
        (SKIP LOCKED), and the exit check must wait for it to commit, or it would see neither
        the overdue approval nor the publish job that round enqueues, and exit early."""
        async with self._deciding:
            async with self._beat_conn.use() as conn:
                cur = await conn.execute(ANY_OVERDUE)
                row = await cur.fetchone()
            if not (row and row[0]):
                return False
            from worker.services.approvals import decide_overdue

            return bool(await decide_overdue(self.db))

    # -- running a job -----------------------------------------------------------------------

    async def _slot(self) -> None:
        """One of `concurrency` loops: run ready jobs one at a time until told to stop."""
        task = asyncio.current_task()
        assert task is not None
        while (job := await self._ready.get()) is not None:
            if self._stop.is_set():
                self._not_started.append(job)  # prefetched, never started: _drain releases it
                continue
            self._current[job.id] = (job, task)
            try:
                with log_context(project_id=job.project_id, job_id=job.id, run_id=job.run_id):
                    await self._run_job(job)
            finally:
                self._current.pop(job.id, None)

    async def _run_job(self, job: ClaimedJob) -> None:
        started = time.perf_counter()
        handler = self.registry.handler(job.kind)
        ctx = JobContext(job=job, worker_id=self.id, db=self.db, settings=self.settings)
        error: str | None = None
        permanent = False
        try:
            if handler is None:
                raise PermanentError(f"no handler for job kind {job.kind!r}")
            log.debug("job started", kind=job.kind, attempt=job.attempts)
            await handler(ctx)
        except asyncio.CancelledError:
            raise  # released by _drain
        except PermanentError as exc:
            error, permanent = str(exc), True
        except Exception as exc:
            error = _short(exc)
            log.debug("job traceback", traceback="".join(traceback.format_exception(exc))[-4000:])
        duration_ms = (time.perf_counter() - started) * 1000
        self._observed += 1
        self._recent_ms += (duration_ms - self._recent_ms) / min(self._observed, 20)
        if error is None:
            self._finished.append(_Finished(job, duration_ms, ctx.followups))
            self._held.pop(job.id, None)
            self._flush_needed.set()
            self._wake.set()
            return
        try:
            await self._record_failure(job, error, duration_ms, permanent)
        finally:
            self._held.pop(job.id, None)
            self._wake.set()

    async def _record_failure(self, job: ClaimedJob, error: str, duration_ms: float,
                              permanent: bool) -> None:
        self._failed += 1
        for attempt in range(5):
            try:
                async with self._done_conn.use() as conn:
                    status = await queue.fail(conn, job, error, policy=self.policy,
                                              duration_ms=duration_ms, permanent=permanent)
                break
            except Exception as exc:  # keep the outcome: the database may be restarting
                log.warning("could not record a failure; retrying", error=_short(exc))
                await asyncio.sleep(0.5 * (attempt + 1))
        else:
            return  # the lease will expire and the job will be reclaimed
        if status == "dead":
            log.error(f"job {job.kind} failed for good: {error}", kind=job.kind,
                      attempts=job.attempts)
            await self._run_dead_hook(job.kind, job.id, error, job.payload, job.project_id)
        elif status == "queued":
            log.warning(f"job {job.kind} failed (attempt {job.attempts} of {job.max_attempts}), "
                        f"will retry: {error}", kind=job.kind)

    async def _run_dead_hook(self, kind: str, job_id: int, error: str, payload: dict,
                             project_id: int | None) -> None:
        hook = self.registry.dead_hook(kind)
        if hook is None:
            return
        try:
            await hook(self.db, job_id, error, {**payload, "project_id": project_id})
        except Exception as exc:
            log.error("dead-job hook failed", kind=kind, error=_short(exc))

    # -- completions (batched) ---------------------------------------------------------------

    async def _flush_completions(self) -> None:
        while True:
            await self._flush_needed.wait()
            self._flush_needed.clear()
            await self._write_completions()

    async def _write_completions(self) -> None:
        while self._finished:
            batch = self._finished[:500]
            try:
                async with self._done_conn.use() as conn:
                    done = await queue.complete_many(
                        conn, [(f.job.run_id, f.duration_ms) for f in batch],
                        {f.job.id: f.followups for f in batch},
                    )
            except Exception as exc:
                if self._stop.is_set() and not self._held:
                    log.error("could not record completions at shutdown", error=_short(exc))
                    return
                log.warning("could not record completions; retrying", error=_short(exc))
                await asyncio.sleep(0.5)
                continue
            del self._finished[:len(batch)]
            self._succeeded += len(done)
            debug = log.enabled(logging.DEBUG)
            for f in batch:
                if f.job.id in done:
                    # Project and ops steps are what people watch; a bulk of plain jobs would
                    # flood the log (and cost a third of the throughput), so they log at DEBUG.
                    watched = f.job.project_id is not None or f.job.ops_change_id is not None
                    if watched or debug:
                        (log.info if watched else log.debug)(
                            f"job {f.job.kind} succeeded", kind=f.job.kind,
                            duration_ms=round(f.duration_ms, 1), project_id=f.job.project_id,
                            job_id=f.job.id, run_id=f.job.run_id)
                else:
                    log.warning(f"job {f.job.kind} finished after losing its lease or being "
                                "cancelled; result discarded", job_id=f.job.id)
            self._wake.set()

    # -- shutdown ----------------------------------------------------------------------------

    async def _drain(self) -> None:
        # Prefetched jobs that never started go straight back to the queue.
        waiting = self._not_started
        while not self._ready.empty():
            job = self._ready.get_nowait()
            if job is not None:
                waiting.append(job)
        if waiting:
            await self._release(waiting)
        for _ in self._slot_tasks:
            self._ready.put_nowait(None)  # an idle slot exits; a busy one after its job
        if self._current:
            log.info("waiting for running jobs", running=len(self._current),
                     grace_seconds=self.grace_seconds)
        _, pending = await asyncio.wait(self._slot_tasks, timeout=self.grace_seconds)
        if not pending:
            return
        leftovers = [job for job, task in self._current.values() if task in pending]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._release(leftovers)

    async def _release(self, jobs: list[ClaimedJob]) -> None:
        try:
            async with self._done_conn.use() as conn:
                await queue.release(conn, [job.run_id for job in jobs])
            log.warning("released unfinished jobs back to the queue",
                        job_ids=[job.id for job in jobs])
        except Exception as exc:
            log.error("could not release jobs; their leases will expire", error=_short(exc))
        for job in jobs:
            self._held.pop(job.id, None)

    # -- heartbeat, leases, worker commands --------------------------------------------------

    async def _register(self) -> None:
        async with self._beat_conn.use() as conn:
            await workers.register(conn, worker_id=self.id, host=socket.gethostname(),
                                   pid=os.getpid(), version=__version__,
                                   concurrency=self.concurrency)

    async def _unregister(self) -> None:
        with contextlib.suppress(Exception):
            async with self._beat_conn.use() as conn:
                await workers.unregister(conn, worker_id=self.id, succeeded=self._succeeded,
                                         failed=self._failed)

    async def _heartbeat(self) -> None:
        last_log = 0.0
        while True:
            try:
                await self._beat()
                await self._decide_overdue()
                await self._flush_logs()
            except Exception as exc:
                log.warning("heartbeat failed", error=_short(exc))
            if time.monotonic() - last_log >= HEARTBEAT_LOG_SECONDS:
                last_log = time.monotonic()
                log.info("heartbeat", running=len(self._held), succeeded=self._succeeded,
                         failed=self._failed, paused=self._paused)
            await asyncio.sleep(min(self.settings.heartbeat_seconds, self.lease / 3))

    async def _beat(self) -> None:
        status = "stopping" if self._stop.is_set() else "paused" if self._paused else "running"
        async with self._beat_conn.use() as conn, conn.transaction():
            found, command = await workers.beat(conn, worker_id=self.id, status=status,
                                                succeeded=self._succeeded, failed=self._failed)
            await queue.extend_leases(conn, self.id, list(self._held), self.lease)
            reclaimed = await queue.reclaim_expired(conn)
        if not found:  # our row vanished (database reset): register again
            await self._register()
        elif command:
            self._obey(command)
        for job in reclaimed:
            log.warning(f"reclaimed job {job.id} ({job.kind}): {job.last_error}",
                        job_id=job.id, project_id=job.project_id, new_status=job.status)
            if job.status == "dead":
                await self._run_dead_hook(job.kind, job.id, job.last_error, {}, job.project_id)
        if reclaimed:
            self._wake.set()

    def _obey(self, command: str) -> None:
        if command == "pause" and not self._paused:
            self._paused = True
            log.info("paused: not claiming new jobs")
        elif command == "resume" and self._paused:
            self._paused = False
            log.info("resumed")
            self._wake.set()
        elif command == "stop":
            log.info("stop requested through the database")
            self.request_stop()

    async def _flush_logs(self) -> None:
        if self.log_sink is not None:
            with contextlib.suppress(Exception):
                await self.log_sink.flush_to(self._beat_conn)

    # -- NOTIFY ------------------------------------------------------------------------------

    async def _listen(self) -> None:
        """A dedicated LISTEN connection; reconnects with backoff, the poll covers the gaps."""
        delay = 0.5
        while not self._stop.is_set():
            try:
                conn = await psycopg.AsyncConnection.connect(
                    libpq_url(self.db.url), autocommit=True
                )
                async with conn:
                    await conn.execute("LISTEN titan_jobs")
                    self.listening, delay = True, 0.5
                    self._wake.set()  # catch up on anything enqueued while we were away
                    async for _ in conn.notifies():
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("listener disconnected", error=_short(exc))
            self.listening = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


def _short(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}"[:2000] if message else type(exc).__name__
