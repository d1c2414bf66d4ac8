"""JobService against a real PostgreSQL: states, filters, keyset pages, bulk actions, counts."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from worker import queue
from worker.config import Settings
from worker.db.engine import Database
from worker.errors import InvalidInput
from worker.queue import NewJob
from worker.retry import RetryPolicy
from worker.services.jobs import Cursor, JobFilter, JobService, Selection
from worker.services.projects import ProjectService

# One job per state, as the queue leaves them (status, attempts, due in seconds from now).
STATE_ROWS = {
    "queued": ("queued", 0, -1),
    "scheduled": ("queued", 0, 3600),
    "retrying": ("queued", 1, 5),
    "running": ("running", 1, -5),
    "succeeded": ("succeeded", 1, -9),
    "dead": ("dead", 3, -9),
    "cancelled": ("cancelled", 0, -9),
}


async def _insert(db: Database, *, kind: str = "noop", status: str = "dead", attempts: int = 3,
                  due: float = -1, n: int = 1, project_id: int | None = None,
                  locked_by: str | None = None, dedupe_key: str | None = None) -> list[int]:
    async with db.session() as s:
        rows = await s.execute(text("""
            INSERT INTO jobs (kind, status, attempts, max_attempts, run_at, project_id,
                              locked_by, dedupe_key, last_error)
            SELECT :kind, :status, :attempts, 3, now() + make_interval(secs => :due),
                   :project, :locked_by, :dedupe, :error
            FROM generate_series(1, :n) RETURNING id"""),
            {"kind": kind, "status": status, "attempts": attempts, "due": due, "n": n,
             "project": project_id, "locked_by": locked_by, "dedupe": dedupe_key,
             "error": "boom" if status == "dead" else None})
        return sorted(r[0] for r in rows)


async def _statuses(db: Database, ids: list[int]) -> dict[int, str]:
    async with db.session() as s:
        rows = await s.execute(text("SELECT id, status FROM jobs WHERE id = ANY(:ids)"),
                               {"ids": ids})
        return dict(rows.all())  # type: ignore[arg-type]


async def _all_pages(service: JobService, flt: JobFilter, **kwargs: Any) -> list[int]:
    ids: list[int] = []
    after = None
    while True:
        page = await service.page(flt, after=after, **kwargs)
        ids += [r.id for r in page.rows]
        if page.next is None:
            return ids
        after = page.next


async def test_each_state_filter_finds_its_jobs(db: Database) -> None:
    by_state = {}
    for state, (status, attempts, due) in STATE_ROWS.items():
        by_state[state] = (await _insert(db, status=status, attempts=attempts, due=due,
                                         locked_by="w-1" if status == "running" else None))[0]
    failed = (await _insert(db, status="failed"))[0]  # an old status: shown as dead
    service = JobService(db)
    for state, job_id in by_state.items():
        rows = (await service.page(JobFilter(state=state))).rows
        expected = {job_id, failed} if state == "dead" else {job_id}
        assert {r.id for r in rows} == expected, state
        assert {r.state for r in rows} == {state}
        assert await service.count(JobFilter(state=state)) == len(expected)
    assert await service.count() == len(STATE_ROWS) + 1
    running = (await service.page(JobFilter(state="running"))).rows[0]
    assert running.worker == "w-1"
    assert (await service.page(JobFilter(worker="w-1"))).rows == [running]


async def test_kind_project_and_worker_filters_combine(db: Database, settings: Settings) -> None:
    project = await ProjectService.from_settings(db, settings).create({"name": "Filtered"})
    build = await _insert(db, kind="build", n=3, project_id=project.id)
    await _insert(db, kind="noop", n=4)
    async with db.session() as s:  # the project's scaffold ran on w-2
        (claimed,) = await queue.claim(s, "w-2", batch=1, lease_seconds=30)
        await queue.complete_many(s, [(claimed.run_id, 1.0)], {})
    service = JobService(db)
    rows = (await service.page(JobFilter(kind="build", project_id=project.id))).rows
    assert [r.id for r in rows] == build[::-1]
    assert {r.project_name for r in rows} == {"Filtered"}
    by_worker = (await service.page(JobFilter(worker="w-2"))).rows
    assert [(r.id, r.kind, r.state, r.worker) for r in by_worker] == [
        (claimed.id, "scaffold", "succeeded", "w-2")]
    assert await service.count(JobFilter(project_id=project.id)) == 4
    assert await service.count(JobFilter(kind="build", state="dead")) == 3
    assert await service.count(JobFilter(kind="nothing-of-this-kind")) == 0


@pytest.mark.parametrize("sort", ["id", "kind", "attempts", "runAt", "updatedAt"])
async def test_keyset_pages_cover_every_job_once_in_order(db: Database, sort: str) -> None:
    for kind, attempts in (("b", 1), ("a", 3), ("c", 2)):
        await _insert(db, kind=kind, attempts=attempts, n=45)
    service = JobService(db)
    for descending in (True, False):
        ids = await _all_pages(service, JobFilter(), sort=sort, descending=descending, limit=20)
        everything = (await service.page(JobFilter(), sort=sort, descending=descending,
                                         limit=1000)).rows
        assert ids == [r.id for r in everything]
        assert len(ids) == len(set(ids)) == 135
        keys = [(r.sort_value(sort), r.id) for r in everything]
        assert keys == sorted(keys, reverse=descending)


async def test_pages_stay_stable_while_new_jobs_arrive(db: Database) -> None:
    old = await _insert(db, n=50)
    service = JobService(db)
    first = await service.page(JobFilter(), limit=20)
    await _insert(db, n=30)  # newer jobs sort before the cursor: the next pages never see them
    rest: list[int] = []
    after = first.next
    while after is not None:
        page = await service.page(JobFilter(), limit=20, after=after)
        rest += [r.id for r in page.rows]
        after = page.next
    assert [r.id for r in first.rows] + rest == old[::-1]


async def test_cursor_round_trips_and_rejects_foreign_tokens(db: Database) -> None:
    await _insert(db, n=3)
    page = await JobService(db).page(JobFilter(), sort="updatedAt", limit=1)
    assert page.next is not None
    token = page.next.encode()
    assert Cursor.decode(token, "updatedAt") == page.next
    for bad, sort in ((token, "id"), ("not-a-cursor", "id"), ("", "kind"),
                      (Cursor("id", "x", 1).encode(), "id")):
        with pytest.raises(InvalidInput) as caught:
            Cursor.decode(bad, sort)
        assert caught.value.field == "after"
    with pytest.raises(InvalidInput) as caught:
        await JobService(db).page(JobFilter(state="sleeping"))
    assert caught.value.field == "state"
    with pytest.raises(InvalidInput) as caught:
        await JobService(db).page(sort="payload")
    assert caught.value.field == "sort"


async def test_bulk_retry_by_ids_and_by_filter(db: Database) -> None:
    dead_builds = await _insert(db, kind="build", n=5)
    dead_noops = await _insert(db, kind="noop", n=4)
    cancelled = await _insert(db, kind="build", status="cancelled", attempts=0, n=2)
    succeeded = await _insert(db, kind="build", status="succeeded", attempts=1, n=2)
    service = JobService(db)

    chosen = Selection(ids=[dead_noops[0], dead_noops[1], succeeded[0]])
    assert await service.count_for("retry", chosen) == 2
    assert await service.retry(chosen) == 2
    statuses = await _statuses(db, dead_noops + succeeded)
    assert [statuses[i] for i in dead_noops] == ["queued", "queued", "dead", "dead"]
    assert statuses[succeeded[0]] == "succeeded"  # nothing to retry in a success

    every_dead_build = Selection(flt=JobFilter(state="dead", kind="build"))
    assert await service.count_for("retry", every_dead_build) == 5
    assert await service.retry(every_dead_build) == 5
    statuses = await _statuses(db, dead_builds + cancelled)
    assert {statuses[i] for i in dead_builds} == {"queued"}
    assert {statuses[i] for i in cancelled} == {"cancelled"}  # not dead: not in the filter
    async with db.session() as s:
        row = (await s.execute(text(
            "SELECT attempts, last_error, run_at <= now() FROM jobs WHERE id = :id"),
            {"id": dead_builds[0]})).one()
    assert tuple(row) == (0, None, True)
    assert await service.retry(every_dead_build) == 0  # already queued


async def test_retry_keeps_one_live_job_per_dedupe_key(db: Database) -> None:
    live = await _insert(db, status="queued", attempts=0, dedupe_key="project:1:build")
    blocked = await _insert(db, dedupe_key="project:1:build")
    twins = await _insert(db, n=2, dedupe_key="project:1:deploy")
    service = JobService(db)
    assert await service.retry(Selection(flt=JobFilter(state="dead"))) == 1
    statuses = await _statuses(db, live + blocked + twins)
    assert statuses[blocked[0]] == "dead"  # its key is held by a live job
    assert [statuses[i] for i in twins] == ["dead", "queued"]  # the newest of the two


async def test_retry_queues_a_failed_project_again(db: Database, settings: Settings) -> None:
    project = await ProjectService.from_settings(db, settings).create({"name": "Broke"})
    async with db.session() as s:
        await s.execute(text("UPDATE jobs SET status = 'dead', attempts = 3 WHERE project_id = "
                             ":id"), {"id": project.id})
        await s.execute(text("UPDATE projects SET status = 'failed', last_error = 'x' "
                             "WHERE id = :id"), {"id": project.id})
    assert await JobService(db).retry(Selection(flt=JobFilter(project_id=project.id))) == 1
    again = await ProjectService.from_settings(db, settings).get(project.id)
    assert (again.status, again.last_error) == ("queued", None)


async def test_cancel_running_and_queued_jobs_and_their_project(db: Database,
                                                                settings: Settings) -> None:
    project = await ProjectService.from_settings(db, settings).create({"name": "Stop It"})
    async with db.session() as s:
        (running,) = await queue.claim(s, "w-1", batch=1, lease_seconds=30)
    queued = await _insert(db, status="queued", attempts=0, n=3)
    dead = await _insert(db)
    service = JobService(db)
    assert await service.count_for("cancel", Selection(flt=JobFilter())) == 4
    assert await service.cancel(Selection(ids=[running.id, *queued[:2], *dead])) == 3
    statuses = await _statuses(db, [running.id, *queued, *dead])
    assert [statuses[i] for i in (running.id, *queued, *dead)] == [
        "cancelled", "cancelled", "cancelled", "queued", "dead"]
    # The running job's handler finishes later: its result does not count.
    async with db.session() as s:
        assert await queue.complete_many(s, [(running.run_id, 5.0)], {}) == set()
    stopped = await ProjectService.from_settings(db, settings).get(project.id)
    assert stopped.status == "cancelled"
    assert await service.cancel(Selection(flt=JobFilter(state="queued"))) == 1


async def test_discard_deletes_finished_jobs_with_their_runs(db: Database) -> None:
    async with db.session() as s:
        job_id = await queue.enqueue(s, NewJob("fail", max_attempts=1))
    async with db.session() as s:
        (claimed,) = await queue.claim(s, "w", batch=1, lease_seconds=30)
        await queue.fail(s, claimed, "boom", policy=RetryPolicy())
    live = await _insert(db, status="queued", attempts=0, n=2)
    old = await _insert(db, status="succeeded", attempts=1, n=3)
    service = JobService(db)
    assert await service.count_for("discard", Selection(flt=JobFilter())) == 4
    assert await service.discard(Selection(ids=[job_id, live[0]])) == 1
    assert await service.discard(Selection(flt=JobFilter(state="succeeded"))) == 3
    async with db.session() as s:
        left = (await s.execute(text("SELECT id FROM jobs ORDER BY id"))).scalars().all()
        runs = await s.scalar(text("SELECT count(*) FROM runs WHERE job_id = :id"),
                              {"id": job_id})
    assert list(left) == live and runs == 0  # the three succeeded ones went with the filter
    assert not set(old) & set(left)


def test_a_selection_needs_ids_or_a_filter() -> None:
    for kwargs in ({}, {"ids": [1], "flt": JobFilter()}, {"ids": []}, {"ids": [0]}):
        with pytest.raises(InvalidInput) as caught:
            Selection(**kwargs)  # type: ignore[arg-type]
        assert caught.value.field == "ids"
    with pytest.raises(InvalidInput) as caught:
        Selection(flt=JobFilter(state="zombie"))
    assert caught.value.field == "state"


async def test_pages_by_updated_merge_live_and_finished_jobs(db: Database) -> None:
    """Sorted by Updated, queued and running jobs (read apart from finished ones) fall into
    place among the finished ones, page after page, both ways."""
    ids = (await _insert(db, n=30) + await _insert(db, status="queued", attempts=0, n=30)
           + await _insert(db, status="running", attempts=1, locked_by="w-1", n=30)
           + await _insert(db, status="succeeded", attempts=1, n=30))
    async with db.session() as s:  # interleave the times, with ties
        await s.execute(text("UPDATE jobs SET updated_at = now() - (id * 7919 % 61) "
                             "* interval '1 s' WHERE id = ANY(:ids)"), {"ids": ids})
        expected = list((await s.scalars(text(
            "SELECT id FROM jobs ORDER BY updated_at DESC, id DESC"))).all())
    service = JobService(db)
    assert await _all_pages(service, JobFilter(), sort="updatedAt", limit=7) == expected
    assert await _all_pages(service, JobFilter(), sort="updatedAt", descending=False,
                            limit=11) == expected[::-1]
    live = await _all_pages(service, JobFilter(state="running"), sort="updatedAt", limit=4)
    assert live == [i for i in expected if i in set(ids[60:90])]
