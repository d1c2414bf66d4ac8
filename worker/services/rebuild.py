"""Edit a project's spec and rebuild it: a new pipeline run, the earlier one kept.

``edit_spec`` checks the new spec against the template's schema (an error names the field,
``spec.features[2]``; nothing is written) and stores it; it is refused while a step of the
project runs, which would otherwise build half from one spec and half from the other.

``rebuild`` starts build n + 1 of a project that is not running: its jobs from scaffold on are
new rows (the earlier jobs and runs stay), its artifacts carry the new build number (the earlier
builds' artifacts stay, ``artifacts.build``), and the plan's goals are ticked afresh. The files
the earlier build's artifacts point at are copied to ``TITAN_HOME/builds/<slug>/<n>/`` with the
spec that built them (``spec.json``, an artifact of that build), since the new build overwrites
the work and output folders; artifacts whose files are on another machine keep their rows.
"""

from __future__ import annotations

import asyncio
import copy
import json
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update

from worker import queue
from worker.db.models import PIPELINE_STEPS, Artifact, Job, PlanItem, Project
from worker.errors import Conflict, InvalidInput
from worker.logs import get_logger
from worker.services.projects import ProjectService, _add_plan, step_job
from worker.slugs import slugify

log = get_logger("titan.projects")

REBUILDABLE = ("published", "rejected", "failed", "cancelled", "awaiting_approval")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge key by key, ``null`` removes a key, anything
    else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """``--set key=value`` arguments as a merge patch. ``a.b=x`` reaches into objects; a value
    that is JSON (``[1, 2]``, ``true``, ``{"x": 1}``, ``null``) is taken as JSON, anything else
    as text; ``features=a,b`` does not split (use ``features='["a", "b"]'``)."""
    patch: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise InvalidInput("--set", f"takes KEY=VALUE, not {item!r}")
        try:
            value: Any = json.loads(raw)
            if isinstance(value, int | float) and not isinstance(value, bool) \
                    and raw.strip() != str(value):
                value = raw  # "007", "1e3": text as typed
        except ValueError:
            value = raw
        target = patch
        parts = key.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise InvalidInput("--set", f"{key!r} sets inside a value set before")
        target[parts[-1]] = value
    return patch


class RebuildService:
    """Spec edits and rebuilds, for the CLI, the REST API and the desktop."""

    def __init__(self, projects: ProjectService) -> None:
        self.projects = projects
        self.db = projects.db

    async def _running_step(self, project_id: int) -> str | None:
        async with self.db.session() as session:
            return await session.scalar(
                select(Job.kind).where(Job.project_id == project_id,
                                       Job.status.in_(("queued", "running"))).limit(1))

    async def edit_spec(self, ref: int | str, patch: dict[str, Any] | None = None, *,
                        spec: dict[str, Any] | None = None) -> Project:
        """Store a new spec: ``spec`` replaces it, ``patch`` is merged into it (RFC 7396).
        InvalidInput names the field the template's schema rejects; Conflict while it runs."""
        project = await self.projects.get(ref)
        if spec is None and patch is None:
            raise InvalidInput("spec", "give a spec or the changes to make")
        if spec is not None and not isinstance(spec, dict):
            raise InvalidInput("spec", "must be an object")
        template = self.projects.templates.get(project.template_ref)
        wanted = spec if spec is not None else merge_patch(project.spec, patch)
        new_spec = template.validate_spec(dict(wanted))
        step = await self._running_step(project.id)
        if step is not None:
            raise Conflict(f"project {project.slug} is building ({step}); wait for it or "
                           "cancel it before editing its spec")
        # The spec that built the current build is history: keep it before it changes.
        await asyncio.to_thread(self._keep_spec, project.slug, project.build, project.spec)
        async with self.db.session() as session:
            await session.execute(update(Project).where(Project.id == project.id)
                                  .values(spec=new_spec, updated_at=func.now()))
        log.info(f"spec of {project.slug} edited", project_id=project.id)
        return await self.projects.get(project.id)

    async def rebuild(self, ref: int | str) -> tuple[Project, int]:
        """Start the next build from scaffold with the project's current spec; returns the
        project and the new scaffold job's id. Conflict while it runs."""
        project = await self.projects.get(ref)
        template = self.projects.templates.get(project.template_ref)
        async with self.db.session() as session:
            row = await session.get(Project, project.id, with_for_update=True)
            if row is None:
                raise Conflict(f"project {project.slug} was deleted")
            running = await session.scalar(
                select(Job.kind).where(Job.project_id == row.id,
                                       Job.status.in_(("queued", "running"))).limit(1))
            if running is not None or row.status not in REBUILDABLE:
                raise Conflict(f"project {row.slug} is {row.status}"
                               + (f" ({running} queued or running)" if running else "")
                               + "; only a finished project (or one awaiting approval) can be "
                               "rebuilt")
            earlier = row.build
            artifacts = list((await session.scalars(
                select(Artifact).where(Artifact.project_id == row.id,
                                       Artifact.build == earlier))).all())
            archived = await asyncio.to_thread(self._archive, row.slug, earlier, row.spec,
                                               artifacts)
            for artifact_id, path in archived.moved.items():
                await session.execute(update(Artifact).where(Artifact.id == artifact_id)
                                      .values(path=str(path)))
            if archived.spec_file is not None:
                session.add(Artifact(project_id=row.id, build=earlier, kind="report",
                                     name="spec.json", path=str(archived.spec_file),
                                     size_bytes=archived.spec_file.stat().st_size))
            await self._renew_plan(session, row, template)
            row.build = earlier + 1
            row.status, row.stage, row.progress = "queued", None, 0.0
            row.last_error, row.awaiting_since, row.flags = None, None, []
            row.started_at = row.finished_at = None
            row.updated_at = func.now()
            job_id = await queue.enqueue(session, step_job(row.id, PIPELINE_STEPS[0]))
        if job_id is None:  # cannot happen under the row lock; said plainly if it does
            raise Conflict(f"the scaffold step of {project.slug} is already queued")
        log.info(f"rebuilding {project.slug}: build {earlier + 1} queued "
                 f"(build {earlier} and its artifacts kept)", project_id=project.id,
                 build=earlier + 1)
        return await self.projects.get(project.id), job_id

    async def _renew_plan(self, session: Any, row: Project, template: Any) -> None:
        """Goals are ticked afresh. When the template's plan follows the spec (persona/basic's
        features) and the edit changed it, the plan becomes the new spec's."""
        current = list((await session.scalars(
            select(PlanItem).where(PlanItem.project_id == row.id))).all())
        new_plan = template.plan(row.name, row.spec)
        titles = sorted(item.title for item in current)
        if new_plan and sorted(_titles(new_plan)) != titles:
            await session.execute(delete(PlanItem).where(PlanItem.project_id == row.id))
            _add_plan(session, row.id, new_plan)
            return
        await session.execute(update(PlanItem).where(PlanItem.project_id == row.id)
                              .values(done=False, done_at=None))

    def _build_folder(self, slug: str, build: int) -> Path | None:
        settings = self.projects.settings
        if settings is None or not slug or slugify(slug) != slug:
            return None
        return Path(settings.titan_home) / "builds" / slug / str(build)

    def _keep_spec(self, slug: str, build: int, spec: dict[str, Any]) -> Path | None:
        """Blocking: write the build's spec once (the first edit after the build, or the
        rebuild when nobody edited it); later edits do not overwrite it."""
        folder = self._build_folder(slug, build)
        if folder is None:
            return None
        spec_file = folder / "spec.json"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not spec_file.exists():
                spec_file.write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n",
                                     encoding="utf-8")
        except OSError as exc:
            log.warning(f"could not keep build {build} of {slug}'s files", error=str(exc))
            return None
        return spec_file

    def _archive(self, slug: str, build: int, spec: dict[str, Any],
                 artifacts: list[Artifact]) -> _Archived:
        """Blocking: copy the build's files that are on this machine aside."""
        settings = self.projects.settings
        done = _Archived()
        if settings is None:
            return done
        done.spec_file = self._keep_spec(slug, build, spec)
        if done.spec_file is None:
            return done
        folder = done.spec_file.parent
        for artifact in artifacts:
            source = Path(artifact.path) if artifact.path else None
            if source is None or not source.exists() or folder in source.parents:
                continue
            target = folder / f"{artifact.id}-{source.name}"
            try:
                if source.is_dir():
                    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
                else:
                    shutil.copy2(source, target)
            except OSError as exc:
                log.warning(f"could not keep {source} of build {build}", error=str(exc))
                continue
            done.moved[artifact.id] = target
        # What a model wrote was for the old spec: the new build asks again.
        ai_record = Path(settings.projects_dir) / ".ai-builds" / f"{slug}.json"
        if ai_record.is_file():
            shutil.move(str(ai_record), str(folder / "ai-build.json"))
        return done


class _Archived:
    def __init__(self) -> None:
        self.moved: dict[int, Path] = {}
        self.spec_file: Path | None = None


def _titles(nodes: list[Any]) -> list[str]:
    titles: list[str] = []
    for node in nodes:
        titles.append(node.title)
        titles += _titles(node.children)
    return titles
