"""``/api/jobs``: every job across projects, keyset-paged, and bulk retry / discard / cancel.

A bulk body names either ``ids`` or a ``filter`` (``{"state": "dead", "kind": "build"}``: every
job it matches). The answer says how many jobs the action changed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from worker.api.deps import DB, SettingsDep
from worker.api.errors import reject_unstorable_text
from worker.services.jobs import (
    BIGINT_MAX,
    MAX_IDS,
    MAX_LIMIT,
    SORTS,
    STATES,
    Cursor,
    JobFilter,
    JobService,
    Selection,
)

router = APIRouter(prefix="/api/jobs", tags=["jobs"])
State = Literal[STATES]  # type: ignore[valid-type]  # from the runtime tuple
Sort = Literal["id", "runAt", "updatedAt", "attempts", "kind"]  # SORTS (checked below)
assert set(Sort.__args__) == set(SORTS)  # type: ignore[attr-defined]  # a Literal has __args__
JobId = Annotated[int, Field(ge=1, le=BIGINT_MAX)]


class FilterBody(BaseModel):
    """Which jobs; omitted fields match any job. ``{}`` matches every job."""

    model_config = ConfigDict(extra="forbid")

    state: State | None = Field(None, description="queued, scheduled, running, retrying, dead, "
                                                  "cancelled or succeeded")
    kind: str | None = Field(None, min_length=1, max_length=50)
    project: int | None = Field(None, ge=1, le=BIGINT_MAX, description="a project's id")
    worker: str | None = Field(None, min_length=1, max_length=100,
                               description="a worker's id: the jobs it holds or ran")

    def to_filter(self) -> JobFilter:
        return JobFilter(self.state, self.kind, self.project, self.worker)


class BulkBody(BaseModel):
    """Exactly one of ``ids`` (up to 100,000) or ``filter``."""

    model_config = ConfigDict(extra="forbid")

    ids: list[JobId] | None = Field(None, min_length=1, max_length=MAX_IDS)
    filter: FilterBody | None = None


class BulkResult(BaseModel):
    count: int = Field(description="how many jobs the action changed")


def _selection(body: BulkBody) -> Selection:
    reject_unstorable_text(body.model_dump(exclude_none=True))
    return Selection(ids=body.ids, flt=body.filter.to_filter() if body.filter else None)


@router.get("", summary="list jobs across projects, filtered, keyset-paged")
async def list_jobs(
    db: DB, settings: SettingsDep,
    state: State | None = None,
    kind: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
    project: Annotated[int | None, Query(ge=1, le=BIGINT_MAX, description="a project's id")
                       ] = None,
    worker: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    sort: Sort = "id",
    order: Literal["desc", "asc"] = "desc",
    after: Annotated[str | None, Query(max_length=400,
                                       description="the `next` cursor of the previous page")
                     ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> dict[str, Any]:
    """``items`` in ``sort`` order (ties by id); ``next`` is the cursor of the following page
    (pass it as ``after`` with the same filters and sort), null on the last page."""
    flt = JobFilter(state, kind, project, worker)
    reject_unstorable_text({"kind": kind, "worker": worker, "after": after})
    cursor = Cursor.decode(after, sort) if after else None
    page = await JobService(db, settings).page(flt, sort=sort, descending=order == "desc",
                                               after=cursor, limit=limit)
    return {"items": [row.as_dict() for row in page.rows],
            "next": page.next.encode() if page.next else None, "limit": limit}


@router.post("/retry", summary="queue dead, failed or cancelled jobs again (by ids or filter)")
async def retry_jobs(body: BulkBody, db: DB, settings: SettingsDep) -> BulkResult:
    return BulkResult(count=await JobService(db, settings).retry(_selection(body)))


@router.post("/discard", summary="delete finished jobs and their runs (by ids or filter)")
async def discard_jobs(body: BulkBody, db: DB, settings: SettingsDep) -> BulkResult:
    return BulkResult(count=await JobService(db, settings).discard(_selection(body)))


@router.post("/cancel", summary="cancel queued, scheduled, retrying or running jobs")
async def cancel_jobs(body: BulkBody, db: DB, settings: SettingsDep) -> BulkResult:
    return BulkResult(count=await JobService(db, settings).cancel(_selection(body)))
