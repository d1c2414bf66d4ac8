"""``/api/ops``: propose self-edits and decide on them. Every route needs ``X-OPS-TOKEN``:
``OPS_TOKEN`` proposes, ``OPS_APPROVER_TOKEN`` approves or rejects; both may read."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query

from worker.api.deps import (
    DB,
    OpsCaller,
    SettingsDep,
    ops_caller,
    require_approver,
    require_proposer,
)
from worker.api.errors import reject_unstorable_text
from worker.api.projects import Decision
from worker.db.models import OPS_STATUSES
from worker.services.ops import OpsService, ProposeRequest, change_dict

router = APIRouter(prefix="/api/ops", tags=["ops"], dependencies=[Depends(ops_caller)])
ChangeId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the ops change's id")]
Status = Literal[OPS_STATUSES]  # type: ignore[valid-type]  # from the runtime tuple
Proposer = Annotated[OpsCaller, Depends(require_proposer)]
Approver = Annotated[OpsCaller, Depends(require_approver)]


@router.post("/propose", status_code=201,
             summary="propose a change to Titan's own code (validated, then diff -> ... -> "
                     "approval -> canary -> promote): 'patches', or 'ask' for a model to draft")
async def propose(body: ProposeRequest, db: DB, settings: SettingsDep,
                  caller: Proposer) -> dict[str, Any]:
    """``patches`` (the files' new text) or ``ask`` (a request in words: a model drafts the
    edits, then the change takes the same steps and approval gate); 422 naming ``ask`` or
    ``patches`` when both, neither or an empty request are sent, or when AI is off."""
    reject_unstorable_text(body.model_dump())
    change = await OpsService(db, settings).propose(body, proposed_by=caller.principal)
    return change_dict(change)


@router.get("/changes", summary="list ops changes, newest first")
async def list_changes(
    db: DB, settings: SettingsDep, status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> dict[str, Any]:
    service = OpsService(db, settings)
    changes = await service.list(status=status, limit=limit, offset=offset)
    return {"items": [change_dict(c) for c in changes],
            "total": await service.count(status=status), "limit": limit, "offset": offset}


@router.get("/changes/{change_id}", summary="an ops change with its jobs, artifacts, approvals")
async def get_change(change_id: ChangeId, db: DB, settings: SettingsDep) -> dict[str, Any]:
    return await OpsService(db, settings).details(change_id)


@router.post("/changes/{change_id}/approve", summary="approve a change awaiting approval")
async def approve(change_id: ChangeId, db: DB, settings: SettingsDep,
                  caller: Approver, body: Decision | None = None) -> dict[str, Any]:
    body = body or Decision()
    reject_unstorable_text(body.model_dump())
    change = await OpsService(db, settings).decide(change_id, "approved", decided_by="api",
                                                   actor=body.actor, comment=body.comment,
                                                   principal=caller.principal)
    return change_dict(change)


@router.post("/changes/{change_id}/reject", summary="reject a change (it is rolled back)")
async def reject(change_id: ChangeId, db: DB, settings: SettingsDep,
                 caller: Approver, body: Decision | None = None) -> dict[str, Any]:
    body = body or Decision()
    reject_unstorable_text(body.model_dump())
    change = await OpsService(db, settings).decide(change_id, "rejected", decided_by="api",
                                                   actor=body.actor, comment=body.comment,
                                                   principal=caller.principal)
    return change_dict(change)
