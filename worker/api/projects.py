"""``/api/projects``: create, list, show, edit, delete and retry projects (ProjectService)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from worker.api.deps import DB, Principal, SettingsDep
from worker.api.errors import reject_unstorable_text
from worker.db.models import PROJECT_STATUSES
from worker.errors import InvalidInput
from worker.services.projects import SORT_KEYS, ProjectCreate, ProjectService
from worker.services.serialize import approval_dict, project_dict

router = APIRouter(prefix="/api/projects", tags=["projects"])
ProjectId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the project's id")]
Status = Literal[PROJECT_STATUSES]  # type: ignore[valid-type]  # from the runtime tuple


class ProjectUpdate(BaseModel):
    """What may change after creation; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str | None = Field(None, min_length=1, max_length=200)
    requires_approval: bool | None = Field(None, alias="requiresApproval")
    approval_timeout_seconds: int | None = Field(None, alias="approvalTimeoutSeconds", ge=60,
                                                 le=30 * 86400)
    price_minor: int | None = Field(None, alias="priceMinor", ge=0, le=10**12)
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    # Merged into the spec (RFC 7396: null removes a key), then checked against the template's
    # schema; ``POST /{id}/rebuild`` builds it (worker/services/rebuild.py).
    spec: dict[str, Any] | None = Field(None, description="a JSON merge patch of the spec")


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field("", max_length=5000)
    actor: str = Field("", max_length=200)


class CopyEdit(BaseModel):
    """A person's edit of the model-written copy: field key -> new text."""

    model_config = ConfigDict(extra="forbid")

    fields: dict[str, str] = Field(min_length=1, max_length=200)
    actor: str = Field("", max_length=200)


def _service(db: Any, settings: Any) -> ProjectService:
    return ProjectService.from_settings(db, settings)


@router.post("", status_code=201, summary="create a project and queue its first step")
async def create_project(body: ProjectCreate, db: DB, settings: SettingsDep) -> dict[str, Any]:
    reject_unstorable_text(body.model_dump(by_alias=True))
    project = await _service(db, settings).create(body)
    return project_dict(project)


@router.get("", summary="list projects, newest first (or sorted, searched)")
async def list_projects(
    db: DB, settings: SettingsDep, status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    search: Annotated[str | None, Query(max_length=200,
                                        description="words in the name, slug or template")
                      ] = None,
    sort: Literal[tuple(SORT_KEYS)] = "created",  # type: ignore[valid-type]  # runtime tuple
    order: Literal["asc", "desc"] = "desc",
) -> dict[str, Any]:
    reject_unstorable_text(search or "", "search")
    service = _service(db, settings)
    projects = await service.list(status=status, limit=limit, offset=offset, search=search,
                                  sort=sort, descending=order == "desc")
    return {"items": [project_dict(p) for p in projects],
            "total": await service.count(status=status, search=search), "limit": limit,
            "offset": offset}


@router.get("/{project_id}", summary="a project with its jobs, runs and artifacts")
async def get_project(project_id: ProjectId, db: DB, settings: SettingsDep) -> dict[str, Any]:
    service = _service(db, settings)
    data = project_dict(await service.get(project_id, details=True), details=True)
    approvals = await service.approvals(project_id)
    data["approvals"] = [approval_dict(a) for a in approvals]
    data["decidedBy"] = approvals[-1].principal if approvals else None
    return data


@router.patch("/{project_id}",
              summary="edit a project's name, approval settings, price or spec")
async def update_project(project_id: ProjectId, body: ProjectUpdate, db: DB,
                         settings: SettingsDep) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    reject_unstorable_text(changes)
    for key in ("name", "requires_approval", "approval_timeout_seconds", "currency"):
        if key in changes and changes[key] is None:
            alias = ProjectUpdate.model_fields[key].alias or key
            raise InvalidInput(alias, "may not be null")
    service = _service(db, settings)
    spec = changes.pop("spec", None)
    if "spec" in body.model_fields_set and spec is None:
        raise InvalidInput("spec", "may not be null")
    if spec is not None:
        from worker.services.rebuild import RebuildService

        await RebuildService(service).edit_spec(project_id, spec)
    if not changes:
        return project_dict(await service.get(project_id))
    # The service checks the name and the currency (the same rules as for a new project).
    return project_dict(await service.update(project_id, changes))


@router.post("/{project_id}/rebuild", status_code=202,
             summary="build the project again with its current spec (a new pipeline run)")
async def rebuild_project(project_id: ProjectId, db: DB, settings: SettingsDep
                          ) -> dict[str, Any]:
    from worker.services.rebuild import RebuildService

    project, job_id = await RebuildService(_service(db, settings)).rebuild(project_id)
    return {"jobId": job_id, "build": project.build, "project": project_dict(project)}


@router.delete("/{project_id}", status_code=204,
               summary="delete a project: cancel its jobs, stop its service, remove its folders")
async def delete_project(
    project_id: ProjectId, db: DB, settings: SettingsDep,
    keep_files: Annotated[bool, Query(alias="keepFiles",
                                      description="keep its work and output folders")] = False,
) -> Response:
    await _service(db, settings).delete(project_id, keep_files=keep_files)
    return Response(status_code=204)


@router.post("/{project_id}/retry", status_code=202, summary="run a failed step again")
async def retry_project(project_id: ProjectId, db: DB, settings: SettingsDep) -> dict[str, Any]:
    job_id = await _service(db, settings).retry(project_id)
    return {"jobId": job_id, "project": project_dict(await _service(db, settings).get(project_id))}


@router.post("/{project_id}/approve", summary="approve a project awaiting approval")
async def approve_project(project_id: ProjectId, db: DB, settings: SettingsDep,
                          principal: Principal, body: Decision | None = None
                          ) -> dict[str, Any]:
    body = body or Decision()
    reject_unstorable_text(body.model_dump())
    return project_dict(await _service(db, settings).decide(
        project_id, "approved", decided_by="api", actor=body.actor, comment=body.comment,
        principal=principal))


@router.post("/{project_id}/reject", summary="reject a project awaiting approval")
async def reject_project(project_id: ProjectId, db: DB, settings: SettingsDep,
                         principal: Principal, body: Decision | None = None
                         ) -> dict[str, Any]:
    body = body or Decision()
    reject_unstorable_text(body.model_dump())
    return project_dict(await _service(db, settings).decide(
        project_id, "rejected", decided_by="api", actor=body.actor, comment=body.comment,
        principal=principal))


@router.get("/{project_id}/copy", summary="the model-written copy (tagline, about, features, bio)")
async def get_copy(project_id: ProjectId, db: DB, settings: SettingsDep) -> dict[str, Any]:
    from worker.errors import NotFound
    from worker.services.copy import CopyService

    shown = await CopyService.from_settings(db, settings).get(project_id)
    if shown is None:
        raise NotFound(f"project {project_id} has no model-written copy")
    return shown.as_dict()


@router.patch("/{project_id}/copy",
              summary="edit the model-written copy while the project awaits approval")
async def edit_copy(project_id: ProjectId, body: CopyEdit, db: DB, settings: SettingsDep,
                    principal: Principal) -> dict[str, Any]:
    from worker.services.copy import CopyService

    reject_unstorable_text(body.model_dump())
    saved = await CopyService.from_settings(db, settings).save(
        project_id, body.fields, actor=body.actor or principal, principal=principal)
    return {**saved.copy.as_dict(), "changed": saved.changed}
