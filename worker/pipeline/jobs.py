"""The project pipeline as jobs: scaffold -> build -> deploy -> verify -> publish.

Each step's handler runs the template's step off the event loop, records its artifacts, ticks
the plan's goals for that step, and queues the next step (enqueued only when this job's success
is recorded). A step that runs twice after a crash overwrites its own output: one result.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import func, text, update
from sqlalchemy.dialects.postgresql import insert

from worker.db.engine import Database
from worker.db.models import PIPELINE_STEPS, Artifact, PlanItem, Project
from worker.errors import PermanentError
from worker.jobkit import Handler, JobContext, Registry
from worker.logs import get_logger
from worker.services.projects import step_job
from worker.templatekit.files import sha256_of
from worker.templates import (
    ProjectInfo,
    StepContext,
    StepResult,
    Template,
    TemplateRegistry,
)

log = get_logger("titan.pipeline")
_registries: dict[Any, TemplateRegistry] = {}


def register(registry: Registry) -> None:
    for step in PIPELINE_STEPS:
        registry.register(step, _make_handler(step), on_dead=_project_failed)


def _make_handler(step: str) -> Handler:
    async def handler(ctx: JobContext) -> None:
        await run_step(ctx, step)

    handler.__name__ = f"run_{step}"
    return handler


def _templates(settings: Any) -> TemplateRegistry:
    key = settings.templates_dir
    if key not in _registries:
        _registries[key] = TemplateRegistry.from_settings(settings)
    return _registries[key]


async def run_step(ctx: JobContext, step: str) -> None:
    project_id = ctx.job.project_id
    if project_id is None:
        raise PermanentError(f"{step} job has no project")
    async with ctx.db.session() as session:
        project = await session.get(Project, project_id, with_for_update=True)
        if project is None:
            raise PermanentError(f"project {project_id} no longer exists")
        if project.status in ("cancelled", "rejected", "published") and step != "publish":
            log.info(f"skipping {step}: project is {project.status}")
            return
        project.status, project.stage = step, step
        project.started_at = project.started_at or func.now()
        project.updated_at = func.now()
        info = ProjectInfo(project.id, project.name, project.slug, project.type, project.spec)
        url, template_ref = project.url, project.template_ref
        deploy_target, deploy_config = project.deploy_target, dict(project.deploy_config or {})
        requires_approval = project.requires_approval
        build = project.build  # a rebuild's artifacts are a new build's (services/rebuild.py)
    try:
        template = _templates(ctx.settings).get(template_ref)
    except Exception as exc:
        raise PermanentError(str(exc)) from exc

    step_ctx = StepContext(
        project=info, workdir=ctx.settings.work_dir / info.slug,
        output_dir=ctx.settings.projects_dir / info.slug, settings=ctx.settings,
        log=lambda message: log.info(message, step=step), url=url,
        deploy_target=deploy_target, deploy_config=deploy_config,
    )
    step_ctx.workdir.mkdir(parents=True, exist_ok=True)
    current = step
    try:
        # Steps share files in the work folder. On a worker (machine, TITAN_HOME) that did not
        # run the earlier steps, replay them here first: they are deterministic from the spec.
        for earlier in _not_run_here(step_ctx.workdir, step):
            current = earlier
            log.info(f"replaying {earlier} on this worker before {step} "
                     "(it ran on another machine or its files are gone)", step=step)
            replayed: StepResult = await asyncio.to_thread(getattr(template, earlier), step_ctx)
            if earlier == "scaffold":
                await _ai_work(ctx, template, step_ctx, replay=True)
            step_ctx.url = replayed.url or step_ctx.url
            _mark_done(step_ctx.workdir, earlier)
        current = step
        result: StepResult = await asyncio.to_thread(getattr(template, step), step_ctx)
        if step == "scaffold":
            written = await _ai_work(ctx, template, step_ctx, replay=False)
            if written:
                result.message = f"{result.message}; {written}" if result.message else written
    except Exception as exc:
        await _note_error(ctx.db, project_id, f"{current} failed: {type(exc).__name__}: {exc}")
        raise
    _mark_done(step_ctx.workdir, step)
    if step_ctx.url != url and not result.url:
        result.url = step_ctx.url  # a replayed deploy moved the site to this machine
    await _record_success(ctx, project_id, step, result, requires_approval,
                          step_ctx.output_dir, build)


async def _ai_work(ctx: JobContext, template: Template, step_ctx: StepContext, *,
                   replay: bool) -> str | None:
    """The template's declared AI work after its deterministic scaffold (worker.ai.builds):
    a model writes it, or a replay writes again what the model wrote. None: nothing to do."""
    if not template.ai:
        return None
    from worker.ai.builds import Job, run_declared_work

    return await run_declared_work(
        template, step_ctx, Job(ctx.db, ctx.job.project_id, ctx.job.id), replay=replay)


def _marker(workdir: Path, step: str) -> Path:
    return workdir / ".titan-steps" / step


def _mark_done(workdir: Path, step: str) -> None:
    _marker(workdir, step).parent.mkdir(parents=True, exist_ok=True)
    _marker(workdir, step).touch()


def _not_run_here(workdir: Path, step: str) -> list[str]:
    earlier = PIPELINE_STEPS[:PIPELINE_STEPS.index(step)]
    missing = [s for s in earlier if not _marker(workdir, s).exists()]
    # Replay from the first missing step on: later files depend on earlier ones.
    return list(earlier[earlier.index(missing[0]):]) if missing else []


async def _record_success(ctx: JobContext, project_id: int, step: str, result: StepResult,
                          requires_approval: bool, output_dir: Path, build: int = 1) -> None:
    rows = [{**_artifact_row(project_id, ctx, step, a), "build": build}
            for a in result.artifacts]
    index = PIPELINE_STEPS.index(step)
    async with ctx.db.session() as session:
        for row in rows:
            stmt = insert(Artifact).values(**row)
            await session.execute(stmt.on_conflict_do_update(
                constraint="uq_artifacts_project_build_kind_name",
                set_={k: stmt.excluded[k] for k in row
                      if k not in ("project_id", "build", "kind", "name")},
            ))
        await session.execute(
            update(PlanItem).where(PlanItem.project_id == project_id, PlanItem.step == step,
                                   PlanItem.done.is_(False))
            .values(done=True, done_at=func.now()))
        values: dict[str, Any] = {"progress": (index + 1) / len(PIPELINE_STEPS),
                                  "last_error": None, "updated_at": func.now()}
        if result.url:
            values["url"] = result.url
        if step == "deploy":
            values["output_dir"] = str(output_dir)
        if step == "verify":
            values["flags"] = result.flags
        if step == "publish":
            values.update(status="published", published_at=func.now(), finished_at=func.now())
        elif step == "verify" and requires_approval:
            values.update(status="awaiting_approval", awaiting_since=func.now())
        else:
            ctx.then(step_job(project_id, PIPELINE_STEPS[index + 1]))
        await session.execute(update(Project).where(Project.id == project_id).values(**values))
    if step == "publish":
        log.info(f"project published: {result.message}", step=step)
    elif step == "verify" and requires_approval:
        log.info("output verified; awaiting approval before publishing", step=step)
    else:
        log.info(f"{step} done: {result.message}" if result.message else f"{step} done",
                 step=step)


def _artifact_row(project_id: int, ctx: JobContext, step: str, artifact: Any) -> dict[str, Any]:
    path: Path | None = artifact.path
    size = sha = None
    if path is not None and path.is_file():
        size, sha = path.stat().st_size, sha256_of(path)
    elif path is not None and path.is_dir():
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return {"project_id": project_id, "job_id": ctx.job.id, "run_id": ctx.job.run_id,
            "step": step, "kind": artifact.kind, "name": artifact.name,
            "path": str(path) if path else None, "uri": artifact.uri, "size_bytes": size,
            "sha256": sha, "created_at": func.now()}


async def repair_output_dirs(db: Database, projects_dir: Path) -> int:
    """Rows written before the fix hold SQL text (``:param_1 / CAST((SELECT ...``) instead of
    a folder: point them at OUTPUT_DIR/<slug>, where their deploy put the output."""
    async with db.session() as session:
        result = await session.execute(text(
            "UPDATE projects SET output_dir = :root || '/' || slug "
            "WHERE output_dir LIKE :sql_text"), {"root": str(projects_dir), "sql_text": ":param%"})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]  # an UPDATE/DELETE result is a CursorResult


async def _note_error(db: Database, project_id: int, error: str) -> None:
    async with db.session() as session:
        await session.execute(text(
            "UPDATE projects SET last_error = :error, updated_at = now() WHERE id = :id"
        ), {"id": project_id, "error": error[:4000]})


async def _project_failed(db: Database, job_id: int, error: str, payload: dict[str, Any]) -> None:
    project_id = payload.get("project_id")
    if project_id is None:
        return
    step = payload.get("step")
    if step and not error.startswith(f"{step} failed"):
        error = f"{step} failed: {error}"
    async with db.session() as session:
        await session.execute(text("""
            UPDATE projects SET status = 'failed', last_error = :error, finished_at = now(),
                                updated_at = now()
            WHERE id = :id AND status NOT IN ('cancelled', 'published', 'rejected')
        """), {"id": project_id, "error": error[:4000]})
