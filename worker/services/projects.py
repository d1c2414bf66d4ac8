"""Project use cases shared by the CLI, the REST API, the desktop app and Jason."""

from __future__ import annotations

import asyncio
import builtins  # methods named `list` shadow the builtin in annotations
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import case, delete, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from worker import queue
from worker.db.engine import Database
from worker.db.models import (
    PIPELINE_STEPS,
    PROJECT_STATUSES,
    AICall,
    Approval,
    Artifact,
    Job,
    PlanItem,
    Project,
)
from worker.errors import Conflict, InvalidInput, NotFound
from worker.queue import NewJob
from worker.services.principals import default_principal
from worker.slugs import slugify
from worker.templates import PlanNode, TemplateRegistry

if TYPE_CHECKING:
    from worker.services.approvals import Decision

FINISHED = ("published", "rejected", "failed", "cancelled")
BIGINT_MAX = 2**63 - 1  # no row id is larger
_DIGITS = re.compile(r"^[0-9]+$")


def clean_name(value: str) -> str:
    """A project name as stored: runs of spaces collapsed. Control characters (escape
    sequences, newlines, NUL) and names without a letter or digit are a ValueError."""
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValueError("must not contain control characters")
    value = " ".join(value.split())
    if not slugify(value):
        raise ValueError("must contain at least one letter or digit")
    return value


def _currency_code(value: str) -> str:
    from worker.sales.money import normalize_currency

    return normalize_currency(value)


def check_status(status: str | None, field: str = "status") -> None:
    """Raises InvalidInput on ``field`` unless ``status`` is empty or a project status."""
    if status and status not in PROJECT_STATUSES:
        raise InvalidInput(field, f"{status!r} is not a project status (one of: "
                           f"{', '.join(PROJECT_STATUSES)})")


class ProjectCreate(BaseModel):
    """What it takes to start a project (the API body, the Input form, a CLI call)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    # None: the template's default type (its manifest's ``type``).
    type: str | None = Field(None, min_length=1, max_length=50)
    template_ref: str = Field("persona/basic", alias="templateRef", min_length=1, max_length=200)
    spec: dict[str, Any] = Field(default_factory=dict)
    requires_approval: bool | None = Field(None, alias="requiresApproval")
    approval_timeout_seconds: int | None = Field(
        None, alias="approvalTimeoutSeconds", ge=60, le=30 * 86400
    )
    price_minor: int | None = Field(None, alias="priceMinor", ge=0, le=10**12)
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    # Where deploy puts the output (worker/deploy: local, folder, github-pages, render) and the
    # target's options; None: TITAN_DEPLOY_TARGET for a static site, else local.
    deploy_target: str | None = Field(None, alias="deployTarget", min_length=1, max_length=30)
    deploy_config: dict[str, str | float] | None = Field(None, alias="deployConfig")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return clean_name(value)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return _currency_code(value)


def parse_create(data: dict[str, Any]) -> ProjectCreate:
    """Validate raw input; the first problem becomes InvalidInput naming its field."""
    try:
        return ProjectCreate.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidInput(field, str(first["msg"]).removeprefix("Value error, ")) from None


@dataclass(frozen=True)
class ProjectState:
    """What the desktop's project watcher compares between reads."""

    id: int
    name: str
    status: str
    stage: str | None
    last_error: str | None
    url: str | None


@dataclass(frozen=True)
class LastError:
    """The most recent job error: which job kind, its message, and its project's name."""

    kind: str
    error: str
    project_name: str | None


@dataclass
class Deleted:
    """What ``ProjectService.delete`` did besides removing the rows."""

    slug: str
    stopped: list[str] = field(default_factory=list)  # "service", "site host"
    removed: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    # The deployment on its target (worker/deploy): what delete took down, what it left up.
    undeployed: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One sentence for the person: what was deleted, stopped, removed and kept."""
        parts = [f"deleted {self.slug}"]
        if self.stopped:
            parts.append("stopped its " + " and the ".join(self.stopped))
        if self.removed:
            parts.append("removed " + ", ".join(map(str, self.removed)))
        if self.kept:
            parts.append("kept " + ", ".join(map(str, self.kept)))
        parts.extend(self.undeployed)
        if self.left:
            parts.append("left running " + ", ".join(self.left))
        return "; ".join(parts)


@dataclass
class ProjectService:
    db: Database
    templates: TemplateRegistry
    default_requires_approval: bool = False
    default_approval_timeout: int = 7200
    settings: Any = None  # where delete finds the project's folders and processes

    @classmethod
    def from_settings(cls, db: Database, settings: Any) -> ProjectService:
        """The service as every front end builds it: templates and approval defaults from
        settings."""
        return cls(db, TemplateRegistry.from_settings(settings),
                   settings.require_approval, settings.approval_timeout_seconds, settings)

    async def create(self, request: ProjectCreate | dict[str, Any], *,
                     plan: builtins.list[PlanNode] | None = None,
                     ai_call_ids: Sequence[int] = ()) -> Project:
        """Store a new project with its plan (``plan``, e.g. the AI planner's, else the
        template's) and queue its first step; Conflict when its slug is taken, InvalidInput for
        a bad request. ``ai_call_ids``: ledger rows of the calls that planned it (made before
        the project existed), filed under it in the same transaction."""
        if isinstance(request, dict):
            request = parse_create(request)
        template = self.templates.get(request.template_ref)
        spec = template.validate_spec(dict(request.spec))
        if self.settings is not None:
            from worker.ai.builds import model_needed

            model_needed(template, self.settings)  # a template that needs a model, none on
        slug = slugify(request.name)
        from worker.deploy import choose

        deploy_target, deploy_config = choose(template, slug, request.deploy_target,
                                              request.deploy_config, self.settings)
        project = Project(
            name=request.name, slug=slug, type=request.type or template.default_type,
            template_ref=template.ref,
            spec=spec, status="queued",
            requires_approval=(self.default_requires_approval if request.requires_approval is None
                               else request.requires_approval),
            approval_timeout_seconds=(request.approval_timeout_seconds
                                      or self.default_approval_timeout),
            price_minor=request.price_minor, currency=request.currency,
            deploy_target=deploy_target, deploy_config=deploy_config,
        )
        try:
            async with self.db.session() as session:
                session.add(project)
                await session.flush()
                _add_plan(session, project.id,
                          template.plan(request.name, spec) if plan is None else plan)
                if ai_call_ids:
                    await session.execute(update(AICall).where(AICall.id.in_(ai_call_ids))
                                          .values(project_id=project.id))
                await queue.enqueue(session, step_job(project.id, "scaffold"))
        except IntegrityError as exc:
            if "slug" in str(exc.orig):
                raise Conflict(f"a project with slug {slug!r} already exists") from None
            raise
        return project

    async def list(self, *, status: str | None = None, limit: int = 100, offset: int = 0,
                   search: str | None = None, sort: str = "created", descending: bool = True
                   ) -> list[Project]:
        """Projects, newest first (only those with ``status``, if given). ``search`` keeps
        those whose name, slug or template contains it (any case); ``sort`` is one of
        ``SORT_KEYS`` (ties: newest first)."""
        check_status(status)
        if sort not in SORT_KEYS:
            raise InvalidInput("sort", f"{sort!r} is not one of: {', '.join(SORT_KEYS)}")
        column = SORT_KEYS[sort]
        order = column.desc() if descending else column.asc()
        query = _filtered(select(Project), status, search).order_by(
            order, Project.id.desc()).limit(limit).offset(offset)
        async with self.db.session() as session:
            return list((await session.scalars(query)).all())

    async def count(self, *, status: str | None = None, search: str | None = None) -> int:
        """How many projects (with ``status`` and matching ``search``, if given)."""
        check_status(status)
        query = _filtered(select(func.count()).select_from(Project), status, search)
        async with self.db.session() as session:
            return int(await session.scalar(query) or 0)

    async def get(self, ref: int | str, *, details: bool = False) -> Project:
        """By id, or by slug (or exact name, case-insensitive). A number that is no project's
        id may still be a name: a project called "2024" is found by ``get("2024")``."""
        text_ref = None if isinstance(ref, int) else str(ref).strip()
        number = ref if isinstance(ref, int) else (
            int(text_ref) if text_ref and _DIGITS.match(text_ref) else None)
        by_id = (Project.id == number) if number is not None and 0 < number <= BIGINT_MAX \
            else None
        matches = [] if by_id is None else [by_id]
        if text_ref:
            matches += [Project.slug == text_ref.lower(),
                        func.lower(Project.name) == text_ref.lower(),
                        Project.slug == slugify(text_ref)]
        if not matches:
            raise NotFound(f"no project {ref!r}")
        query = select(Project).where(or_(*matches))
        if by_id is not None and len(matches) > 1:  # an id wins over a name that is a number
            query = query.order_by(case((by_id, 0), else_=1))
        if details:
            query = query.options(selectinload(Project.jobs).selectinload(Job.runs),
                                  selectinload(Project.artifacts))
        async with self.db.session() as session:
            project = (await session.scalars(query.limit(1))).first()
        if project is None:
            raise NotFound(f"no project {ref!r}")
        return project

    async def plan(self, project_id: int) -> builtins.list[PlanItem]:
        """The project's plan items (features, milestones, goals; ``parent_id`` makes the
        tree), by position."""
        async with self.db.session() as session:
            rows = await session.scalars(select(PlanItem).where(PlanItem.project_id == project_id)
                                         .order_by(PlanItem.position, PlanItem.id))
            return list(rows.all())

    async def approvals(self, project_id: int) -> builtins.list[Approval]:
        """Every decision on the project's output, oldest first."""
        async with self.db.session() as session:
            rows = await session.scalars(select(Approval).where(Approval.project_id == project_id)
                                         .order_by(Approval.id))
            return list(rows.all())

    async def update(self, ref: int | str, changes: dict[str, Any]) -> Project:
        """Edit what may change after creation: name (slug stays), approval settings, price."""
        allowed = {"name", "requires_approval", "approval_timeout_seconds", "price_minor",
                   "currency"}
        unknown = set(changes) - allowed
        if unknown:
            raise InvalidInput(sorted(unknown)[0], "cannot be changed")
        changes = dict(changes)
        try:
            if changes.get("name") is not None:
                changes["name"] = clean_name(changes["name"])
        except ValueError as exc:
            raise InvalidInput("name", str(exc)) from None
        try:
            if changes.get("currency") is not None:
                changes["currency"] = _currency_code(changes["currency"])
        except ValueError as exc:
            raise InvalidInput("currency", str(exc)) from None
        project = await self.get(ref)
        async with self.db.session() as session:
            row = await session.get(Project, project.id, with_for_update=True)
            if row is None:  # deleted since self.get() above
                raise NotFound(f"no project {ref!r}")
            for key, value in changes.items():
                setattr(row, key, value)
            row.updated_at = func.now()
        return await self.get(project.id)

    async def cancel(self, ref: int | str) -> Project:
        """Cancel a project that is still in progress and its queued jobs; Conflict when it
        has already finished."""
        project = await self.get(ref)
        if project.status in FINISHED:
            raise Conflict(f"project {project.slug} is already {project.status}")
        async with self.db.session() as session:
            await queue.cancel(session, project_id=project.id)
            await session.execute(text("""
                UPDATE projects SET status = 'cancelled', finished_at = now(), updated_at = now()
                WHERE id = :id"""), {"id": project.id})
        return await self.get(project.id)

    async def delete(self, ref: int | str, *, keep_files: bool = False) -> Deleted:
        """Delete a project and its history, cancel its jobs, stop what it started (its
        service; the site host when it serves nothing else) and, unless ``keep_files``,
        remove its work and output folders on this machine."""
        project = await self.get(ref)
        async with self.db.session() as session:
            await queue.cancel(session, project_id=project.id)
            await session.execute(delete(Project).where(Project.id == project.id))
            still_served = bool(await session.scalar(
                select(func.count()).select_from(Project).where(
                    Project.url.is_not(None), Project.deploy_target == "local")))
        if self.settings is None:  # no file system to act on (a bare service in a test)
            return Deleted(project.slug)
        from worker.services.cleanup import remove_project_files, take_down_deployment

        deleted = Deleted(project.slug, *await asyncio.to_thread(
            remove_project_files, self.settings, project.slug, keep_files=keep_files,
            stop_site_host=not still_served))
        if not keep_files:
            deleted.undeployed, deleted.left = await asyncio.to_thread(
                take_down_deployment, self.settings, project.slug, project.name,
                project.deploy_target, dict(project.deploy_config or {}))
        return deleted

    async def retry(self, ref: int | str) -> int:
        """Run the failed step again. Returns the job id."""
        project = await self.get(ref)
        if project.status not in ("failed", "cancelled"):
            raise Conflict(f"project {project.slug} is {project.status}; only a failed or "
                           "cancelled project can be retried")
        step = project.stage if project.stage in PIPELINE_STEPS else "scaffold"
        async with self.db.session() as session:
            job_id = await queue.enqueue(session, step_job(project.id, step))
            await session.execute(text("""
                UPDATE projects SET status = 'queued', last_error = NULL, finished_at = NULL,
                                    updated_at = now()
                WHERE id = :id"""), {"id": project.id})
        if job_id is None:
            raise Conflict(f"the {step} step of {project.slug} is already queued")
        return job_id

    async def retry_all_failed(self) -> builtins.list[str]:
        """Retry every failed project from its failed step; returns their slugs."""
        retried = []
        for project in await self.list(status="failed", limit=1000):
            await self.retry(project.id)
            retried.append(project.slug)
        return retried

    async def decide(self, ref: int | str, decision: str, *, decided_by: str = "person",
                     actor: str = "", comment: str = "", principal: str = "") -> Project:
        """Approve (enqueue publish) or reject a project waiting in awaiting_approval."""
        if decision not in ("approved", "rejected"):
            raise InvalidInput("decision", "must be 'approved' or 'rejected'")
        project = await self.get(ref)
        async with self.db.session() as session:
            row = await session.get(Project, project.id, with_for_update=True)
            if row is None or row.status != "awaiting_approval":
                raise Conflict(f"project {project.slug} is not awaiting approval "
                               f"(it is {row.status if row else 'gone'})")
            await apply_decision(session, row, decision, decided_by=decided_by, actor=actor,
                                 comment=comment, principal=principal)
        return await self.get(project.id)

    async def artifacts(self, project_id: int) -> builtins.list[Artifact]:
        """Files and URLs the project's runs produced, in the order they were made, newest
        build first."""
        async with self.db.session() as session:
            # The current build's first: a rebuilt project's earlier builds follow (history).
            rows = await session.scalars(select(Artifact).where(Artifact.project_id == project_id)
                                         .order_by(Artifact.build.desc(), Artifact.id))
            return list(rows.all())


    async def names(self, limit: int = 500) -> dict[int, str]:
        """Project names by id, newest first (Jason's vocabulary, the Logs tab's filter)."""
        async with self.db.session() as session:
            rows = (await session.execute(
                select(Project.id, Project.name).order_by(Project.id.desc()).limit(limit))).all()
        return {row.id: row.name for row in rows}

    async def recent_states(self, limit: int = 500) -> builtins.list[ProjectState]:
        """Status, stage, last error and URL of the most recently changed projects."""
        async with self.db.session() as session:
            rows = (await session.execute(
                select(Project.id, Project.name, Project.status, Project.stage,
                       Project.last_error, Project.url)
                .order_by(Project.updated_at.desc()).limit(limit))).all()
        return [ProjectState(*row) for row in rows]

    async def last_error(self) -> LastError | None:
        """The error of the most recently updated job that has one; None if none has."""
        async with self.db.session() as session:
            row = (await session.execute(
                select(Job.kind, Job.last_error, Project.name)
                .outerjoin(Project, Project.id == Job.project_id)
                .where(Job.last_error.is_not(None))
                .order_by(Job.updated_at.desc()).limit(1))).first()
        return None if row is None else LastError(row[0], str(row[1]), row[2])  # not NULL: where()

    async def last_approval_id(self) -> int:
        """The newest approval's id (0 when there is none): a mark for ``decisions_since``."""
        async with self.db.session() as session:
            return int(await session.scalar(select(func.coalesce(func.max(Approval.id), 0))) or 0)

    async def decisions_since(self, after_id: int) -> builtins.list[Decision]:
        """Approvals Jason decided (after a timeout) with an id above ``after_id``, oldest
        first, as ``Decision``s; each carries its ``approval_id``."""
        from worker.services.approvals import Decision

        async with self.db.session() as session:
            rows = (await session.execute(
                select(Approval.id, Approval.decision, Approval.comment, Project.id,
                       Project.slug, Project.name)
                .join(Project, Project.id == Approval.project_id)
                .where(Approval.id > after_id, Approval.decided_by == "jason")
                .order_by(Approval.id))).all()
        return [Decision(project_id, slug, name, decision, comment or "", approval_id=approval_id)
                for approval_id, decision, comment, project_id, slug, name in rows]


async def apply_decision(session: AsyncSession, row: Project, decision: str, *, decided_by: str,
                         actor: str, comment: str, principal: str = "") -> None:
    """Record a decision on a locked project row awaiting approval and act on it."""
    session.add(Approval(project_id=row.id, decided_by=decided_by, actor=actor,
                         decision=decision, comment=comment,
                         principal=principal or default_principal(decided_by)))
    if decision == "approved":
        row.status, row.stage = "publish", "publish"
        await queue.enqueue(session, step_job(row.id, "publish"))
    else:
        row.status, row.last_error = "rejected", comment or "rejected"
        row.finished_at = func.now()
    row.awaiting_since = None
    row.updated_at = func.now()


# What the project list sorts by (the Progress tab's columns, ``GET /api/projects?sort=``).
SORT_KEYS: dict[str, Any] = {
    "created": Project.id, "name": func.lower(Project.name), "status": Project.status,
    "progress": Project.progress, "updated": Project.updated_at,
    "started": Project.started_at, "template": Project.template_ref,
}


def _filtered(query: Any, status: str | None, search: str | None) -> Any:
    if status:
        query = query.where(Project.status == status)
    words = (search or "").split()
    for word in words:  # every word somewhere in the name, slug or template
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(Project.name.ilike(pattern), Project.slug.ilike(pattern),
                                Project.template_ref.ilike(pattern)))
    return query


def step_job(project_id: int, step: str, *, max_attempts: int = 3) -> NewJob:
    """The queue job that runs pipeline ``step`` of the project (at most one live per
    project and step)."""
    # Later steps go first: of a burst of projects, the first ones publish early instead of
    # every project waiting for all scaffolds, then all builds... (the same total time).
    return NewJob(kind=step, project_id=project_id, payload={"step": step},
                  priority=PIPELINE_STEPS.index(step) if step in PIPELINE_STEPS else 0,
                  max_attempts=max_attempts, dedupe_key=f"project:{project_id}:{step}")


def _add_plan(session: AsyncSession, project_id: int, nodes: list[PlanNode],
              parent: PlanItem | None = None) -> None:
    for position, node in enumerate(nodes):
        item = PlanItem(project_id=project_id, kind=node.kind, title=node.title,
                        step=node.step, position=position)
        if parent is not None:
            item.parent = parent
        session.add(item)
        _add_plan(session, project_id, node.children, item)
