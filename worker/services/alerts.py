"""Alerts: what an operator must hear about, raised once, whatever the number of workers.

The events (``EVENTS``):

- ``job.dead`` — a job used up its attempts (or failed permanently);
- ``approval.waiting`` — a project has waited for approval longer than
  ``TITAN_ALERT_APPROVAL_MINUTES``;
- ``worker.stale`` — a worker still marked running has not heart-beaten for
  ``TITAN_ALERT_WORKER_STALE_SECONDS`` (killed, frozen, its machine gone);
- ``backup.failed`` — a backup wrote the ERROR log line whose ``extra.event`` is
  ``backup.failed`` (``BACKUP_FAILED_EVENT``; whatever runs the backup logs it that way).

Every worker looks every ``TITAN_ALERT_CHECK_SECONDS`` (``run_round``, from its own task so a
slow webhook never delays a heartbeat). Each occurrence has a key (``job.dead:42``); the
``INSERT ... ON CONFLICT (key) DO NOTHING RETURNING`` that records it is also the claim, so two
workers looking at once, or a worker restarted, never raise it twice. The worker that inserted
an alert delivers it (``worker.services.alert_webhook``); one it could not finish (it died) is
taken over by any worker after ``RECLAIM_SECONDS``. The desktop reads the table
(``AlertService``) for its tray notice or banner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text

from worker.db.engine import Database
from worker.logs import get_logger

log = get_logger("titan.alerts")

EVENTS = ("job.dead", "approval.waiting", "worker.stale", "backup.failed")
# The structured log entry a failed backup writes: level ERROR, ``extra.event`` this name.
BACKUP_FAILED_EVENT = "backup.failed"
# Occurrences older than this are history, not news (a first start after an upgrade must not
# page anybody about last month's dead jobs).
LOOKBACK = "interval '1 day'"
# A pending alert whose worker has not finished delivering it after this long is taken over.
RECLAIM_SECONDS = 120.0
# At most this many new alerts of one event per round; the rest come in the next rounds.
ROUND_LIMIT = 200

_COLUMNS = "id, event, title, message, project_id, details, status, created_at"

# Each detector inserts what is new and returns it. ``:status`` is pending (a webhook will
# send it) or recorded (nothing to send).
_DETECT: dict[str, str] = {
    "job.dead": f"""
        INSERT INTO alerts (key, event, title, message, project_id, details, status)
        SELECT 'job.dead:' || j.id, 'job.dead', 'Job failed for good',
               format('Job #%s (%s)%s is dead after %s of %s attempts: %s', j.id, j.kind,
                      coalesce(' of ' || p.name, ''), j.attempts, j.max_attempts,
                      left(coalesce(j.last_error, 'no error recorded'), 300)),
               j.project_id,
               jsonb_build_object('jobId', j.id, 'kind', j.kind, 'attempts', j.attempts,
                                  'project', p.slug),
               :status
        FROM jobs j LEFT JOIN projects p ON p.id = j.project_id
        WHERE j.status = 'dead' AND j.finished_at > now() - {LOOKBACK}
          AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.key = 'job.dead:' || j.id)
        ORDER BY j.finished_at LIMIT {ROUND_LIMIT}
        ON CONFLICT (key) DO NOTHING
        RETURNING {_COLUMNS}""",
    # The key holds when the wait began: a project that waits again later alerts again.
    "approval.waiting": f"""
        INSERT INTO alerts (key, event, title, message, project_id, details, status)
        SELECT 'approval.waiting:' || id || ':' || floor(extract(epoch FROM awaiting_since)),
               'approval.waiting', 'Approval waiting',
               format('%s has waited %s minutes for approval (Jason decides after %s minutes)',
                      name, floor(extract(epoch FROM now() - awaiting_since) / 60),
                      approval_timeout_seconds / 60),
               id, jsonb_build_object('project', slug, 'awaitingSince', awaiting_since),
               :status
        FROM projects
        WHERE status = 'awaiting_approval'
          AND awaiting_since <= now() - make_interval(secs => :approval_seconds)
        ORDER BY id LIMIT {ROUND_LIMIT}
        ON CONFLICT (key) DO NOTHING
        RETURNING {_COLUMNS}""",
    # The key holds the last heartbeat: a worker that comes back and stalls again alerts again.
    "worker.stale": f"""
        INSERT INTO alerts (key, event, title, message, details, status)
        SELECT 'worker.stale:' || id || ':' || floor(extract(epoch FROM last_heartbeat)),
               'worker.stale', 'Worker stopped heart-beating',
               format('Worker %s (host %s, pid %s) is marked %s but has not heart-beaten for '
                      '%s seconds', id, host, pid, status,
                      floor(extract(epoch FROM now() - last_heartbeat))),
               jsonb_build_object('worker', id, 'host', host, 'pid', pid,
                                  'lastHeartbeat', last_heartbeat),
               :status
        FROM workers
        WHERE status IN ('running', 'paused', 'stopping') AND id <> :me
          AND last_heartbeat <= now() - make_interval(secs => :stale_seconds)
          AND last_heartbeat > now() - {LOOKBACK}
        ORDER BY id LIMIT {ROUND_LIMIT}
        ON CONFLICT (key) DO NOTHING
        RETURNING {_COLUMNS}""",
    # ERROR lines are few, and ix_log_entries_level_id finds them.
    "backup.failed": f"""
        INSERT INTO alerts (key, event, title, message, details, status)
        SELECT 'backup.failed:' || id, 'backup.failed', 'Backup failed', left(message, 500),
               jsonb_build_object('logId', id, 'at', ts) || (extra - 'event'), :status
        FROM log_entries
        WHERE level = 'ERROR' AND ts > now() - {LOOKBACK}
          AND extra ->> 'event' = '{BACKUP_FAILED_EVENT}'
        ORDER BY id LIMIT {ROUND_LIMIT}
        ON CONFLICT (key) DO NOTHING
        RETURNING {_COLUMNS}""",
}

_RECLAIM = f"""
    UPDATE alerts SET claimed_at = now()
    WHERE id IN (SELECT id FROM alerts
                 WHERE status = 'pending'
                   AND claimed_at <= now() - make_interval(secs => :after)
                 ORDER BY id LIMIT {ROUND_LIMIT} FOR UPDATE SKIP LOCKED)
    RETURNING {_COLUMNS}"""


@dataclass(frozen=True)
class AlertInfo:
    """One alert as front ends show it and the webhook sends it."""

    id: int
    event: str
    title: str
    message: str
    project_id: int | None
    details: dict[str, Any]
    status: str
    created_at: datetime

    def line(self) -> str:
        """One line for a tray notice, a banner, a terminal."""
        return f"{self.title}: {self.message}"


async def detect(db: Database, settings: Any, *, worker_id: str = "") -> list[AlertInfo]:
    """Record every new occurrence of every event; returns the alerts this call raised (and
    so must deliver). Safe to run in several workers at once."""
    status = "pending" if settings.alert_webhook is not None else "recorded"
    params = {"status": status, "me": worker_id,
              "approval_seconds": settings.alert_approval_minutes * 60,
              "stale_seconds": settings.alert_worker_stale_seconds}
    raised: list[AlertInfo] = []
    async with db.session() as session:
        for event, statement in _DETECT.items():
            used = {k: v for k, v in params.items() if f":{k}" in statement}
            rows = (await session.execute(text(statement), used)).all()
            raised += [AlertInfo(*row) for row in rows]
            if rows:
                log.info(f"{len(rows)} new {event} alert(s)", event=event)
    for alert in raised:
        # A log line per alert: the Logs tab and `titan logs` show it even with no webhook.
        log.warning(f"alert: {alert.line()}", alert_id=alert.id, alert_event=alert.event,
                    project_id=alert.project_id)
    return sorted(raised, key=lambda a: a.id)


async def reclaim(db: Database, after_seconds: float = RECLAIM_SECONDS) -> list[AlertInfo]:
    """Pending alerts whose delivering worker went away: now this caller's to deliver."""
    async with db.session() as session:
        rows = (await session.execute(text(_RECLAIM), {"after": after_seconds})).all()
    return [AlertInfo(*row) for row in rows]


async def mark(db: Database, alert_ids: list[int], *, sent: bool, attempts: int,
               error: str | None = None) -> None:
    """Record how delivering these alerts ended."""
    if not alert_ids:
        return
    async with db.session() as session:
        await session.execute(text("""
            UPDATE alerts SET status = :status, attempts = attempts + :attempts,
                              last_error = :error, sent_at = CASE WHEN :sent THEN now() END
            WHERE id = ANY(:ids)"""),
            {"status": "sent" if sent else "failed", "attempts": attempts, "error": error,
             "sent": sent, "ids": alert_ids})


async def run_round(db: Database, settings: Any, *, worker_id: str = "") -> list[AlertInfo]:
    """One look for new alerts, then their delivery (when a webhook is configured), plus any
    another worker left undelivered. Returns the alerts raised in this round."""
    raised = await detect(db, settings, worker_id=worker_id)
    if settings.alert_webhook is None:
        return raised
    from worker.services.alert_webhook import deliver

    to_send = raised + await reclaim(db)
    if to_send:
        await deliver(db, settings, to_send)
    return raised


class AlertService:
    """Alerts for front ends: the newest, and those after an id (the desktop's banner)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def latest_id(self) -> int:
        """The newest alert's id, 0 with none: what a window that just opened has 'seen'."""
        async with self.db.session() as session:
            return int(await session.scalar(text("SELECT coalesce(max(id), 0) FROM alerts"))
                       or 0)

    async def after(self, alert_id: int, limit: int = 50) -> list[AlertInfo]:
        """Alerts with an id above ``alert_id``, oldest first."""
        async with self.db.session() as session:
            rows = (await session.execute(text(
                f"SELECT {_COLUMNS} FROM alerts WHERE id > :after ORDER BY id LIMIT :limit"),
                {"after": alert_id, "limit": limit})).all()
        return [AlertInfo(*row) for row in rows]

    async def recent(self, limit: int = 50) -> list[AlertInfo]:
        """The newest alerts, newest first."""
        async with self.db.session() as session:
            rows = (await session.execute(text(
                f"SELECT {_COLUMNS} FROM alerts ORDER BY id DESC LIMIT :limit"),
                {"limit": limit})).all()
        return [AlertInfo(*row) for row in rows]
