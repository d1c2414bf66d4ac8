"""ProjectService's read-only queries for the desktop and Jason, against the real test database:
names, recent states, the last error, and Jason's decisions since a mark."""

from __future__ import annotations

from sqlalchemy import text

from worker.config import Settings
from worker.db.engine import Database
from worker.services.approvals import decide_overdue
from worker.services.projects import LastError, ProjectService, ProjectState


async def _service(db: Database, settings: Settings) -> ProjectService:
    return ProjectService.from_settings(db, settings)


async def test_names_newest_first(db: Database, settings: Settings) -> None:
    service = await _service(db, settings)
    assert await service.names() == {}
    first = await service.create({"name": "Alpha Site"})
    second = await service.create({"name": "Beta Shop"})
    assert list((await service.names()).items()) == [(second.id, "Beta Shop"),
                                                     (first.id, "Alpha Site")]
    assert list(await service.names(limit=1)) == [second.id]


async def test_recent_states_follow_updates(db: Database, settings: Settings) -> None:
    service = await _service(db, settings)
    a = await service.create({"name": "Alpha"})
    b = await service.create({"name": "Beta"})
    async with db.session() as s:
        await s.execute(text("""UPDATE projects SET status = 'failed', stage = 'build',
            last_error = 'npm exploded', updated_at = now() + interval '1 second'
            WHERE id = :id"""), {"id": a.id})
    states = await service.recent_states()
    assert states[0] == ProjectState(a.id, "Alpha", "failed", "build", "npm exploded", None)
    assert [s.id for s in states] == [a.id, b.id]


async def test_last_error_is_the_most_recent_job_error(db: Database, settings: Settings) -> None:
    service = await _service(db, settings)
    assert await service.last_error() is None
    project = await service.create({"name": "Gamma"})
    async with db.session() as s:
        await s.execute(text("""UPDATE jobs SET last_error = 'old', updated_at = now()
                                WHERE project_id = :id"""), {"id": project.id})
        await s.execute(text("""INSERT INTO jobs (kind, status, payload, last_error, updated_at)
            VALUES ('ops.diff', 'failed', '{}', 'git said no', now() + interval '1 minute')"""))
    assert await service.last_error() == LastError("ops.diff", "git said no", None)
    async with db.session() as s:
        await s.execute(text("""UPDATE jobs SET last_error = 'build broke',
            updated_at = now() + interval '2 minutes' WHERE project_id = :id"""),
            {"id": project.id})
    assert await service.last_error() == LastError("scaffold", "build broke", "Gamma")


async def test_decisions_since_reads_back_what_jason_announced(db: Database,
                                                               settings: Settings) -> None:
    service = await _service(db, settings)
    clean = await service.create({"name": "Clean Output", "requiresApproval": True})
    flagged = await service.create({"name": "Flagged Output", "requiresApproval": True})
    person = await service.create({"name": "Decided By Hand", "requiresApproval": True})
    async with db.session() as s:
        await s.execute(text("""UPDATE projects SET status = 'awaiting_approval',
            stage = 'verify', awaiting_since = now() - interval '3 hours'"""))
        await s.execute(text("""UPDATE projects SET flags = '["contrast too low"]'::jsonb
                                WHERE id = :id"""), {"id": flagged.id})
        await s.execute(text("UPDATE projects SET awaiting_since = now() WHERE id = :id"),
                        {"id": person.id})
    mark = await service.last_approval_id()
    assert mark == 0
    await service.decide(person.id, "approved", decided_by="person", actor="pat", comment="ok")
    decided = await decide_overdue(db)

    since = await service.decisions_since(mark)
    assert [d.announcement() for d in since] == [d.announcement() for d in decided]
    assert [(d.project_id, d.decision) for d in since] == [(clean.id, "approved"),
                                                           (flagged.id, "rejected")]
    assert "contrast too low" in since[1].announcement()
    newest = await service.last_approval_id()
    assert since[-1].approval_id == newest
    assert await service.decisions_since(newest) == []
