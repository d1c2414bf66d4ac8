"""Ops-change use cases shared by the REST API, the CLI, the desktop and Jason.

``propose`` validates the change completely (every path against the rules in
``worker.ops.paths``) before it writes anything, stores it and queues its first step; ``decide``
records a person's approval or rejection of a change waiting at the approval gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select, text
from sqlalchemy.orm import selectinload

from worker import queue
from worker.db.engine import Database
from worker.db.models import OPS_STATUSES, Approval, Artifact, Job, OpsChange
from worker.errors import Conflict, InvalidInput, NotFound
from worker.ops.gitrepo import default_repo_path
from worker.ops.paths import PathPolicy, check_paths, disk_symlinks
from worker.queue import NewJob
from worker.services.principals import default_principal, os_user
from worker.services.serialize import artifact_dict, job_dict

MAX_PATCHES = 200
MAX_ASK_CHARS = 4_000
# Terminal states: nothing more happens to such a change.
FINISHED = ("promoted", "rolled_back", "failed")
# Where no sandbox exists a patched change waits until a person approves running its tests.
# The stored status stays 'patched' (the schema's status list predates this wait); the reason
# carries the marker and front ends show AWAITING_RUN_APPROVAL.
AWAITING_RUN_APPROVAL = "awaiting_run_approval"
RUN_APPROVAL_MARK = "awaiting run approval: "


def awaiting_run_approval(change: OpsChange) -> bool:
    """True when the patched change waits for a person to approve running its
    tests (no sandbox on this machine)."""
    return change.status == "patched" and (change.reason or "").startswith(RUN_APPROVAL_MARK)


def shown_status(change: OpsChange) -> str:
    """The status a person sees: the stored one, or AWAITING_RUN_APPROVAL."""
    return AWAITING_RUN_APPROVAL if awaiting_run_approval(change) else change.status


class Patch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(max_length=4096, description="repository-relative POSIX path")
    content: str = Field(max_length=1024 * 1024, description="the file's complete new text")


class ProposeRequest(BaseModel):
    """The body of ``POST /api/ops/propose`` (and ``titan ops propose``): ``patches`` (files a
    person wrote) or ``ask`` (a request a model drafts the change for), never both."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=300,
                              description="required with patches; from the request with ask")
    description: str = Field("", max_length=100_000)
    patches: list[Patch] | None = Field(None, min_length=1, max_length=MAX_PATCHES)
    ask: str | None = Field(None, max_length=MAX_ASK_CHARS,
                            description="what to change, in words: a model drafts the edits")


def check_source(request: ProposeRequest) -> None:
    """Exactly one of ``patches`` and ``ask``; a title with patches; an ask with words in it.
    Raises InvalidInput naming the field."""
    if request.patches is not None and request.ask is not None:
        raise InvalidInput("ask", "give either 'patches' or 'ask', not both")
    if request.ask is not None:
        if not request.ask.strip():
            raise InvalidInput("ask", "must say what to change (it is empty)")
        return
    if request.patches is None:
        raise InvalidInput("patches", "give 'patches' (the files' new text) or 'ask' (a "
                                      "request a model drafts the change for)")
    if request.title is None:
        raise InvalidInput("title", "Field required")


def parse_propose(data: Any) -> ProposeRequest:
    """The validated propose request; raises InvalidInput naming the first bad field."""
    try:
        request = ProposeRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = _field_name(first["loc"]) or "body"
        raise InvalidInput(field, first["msg"]) from None
    check_source(request)
    return request


def ask_title(ask: str) -> str:
    """A change's title from its request: the first line, cut to fit."""
    line = " ".join(ask.strip().splitlines()[0].split()) if ask.strip() else "a request"
    title = f"Ask: {line}"
    return title if len(title) <= 300 else title[:299] + "…"


def ai_proposer(model: str, person: str) -> str:
    """Who proposed a drafted change: the model, for the person who asked."""
    text = f"ai:{model} for {person}"
    return text if len(text) <= 200 else text[:199] + "…"


def drafting_model(settings: Any) -> str:
    """The model that will draft a requested change; InvalidInput('ask') when AI is off."""
    from worker.ai import ai_off_reason
    from worker.ai.endpoint import configured_endpoint
    from worker.ai.errors import AIConfigError

    try:
        endpoint = configured_endpoint(settings)
    except AIConfigError as exc:
        raise InvalidInput("ask", f"AI is not set up: {exc.message}") from None
    if endpoint is not None:
        return endpoint.model
    reason = ai_off_reason(settings)
    if reason is not None:
        raise InvalidInput("ask", f"no model can draft the change: {reason}")
    from worker.ai.local import LOCAL_MODEL

    return LOCAL_MODEL


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def ops_job(change_id: int, kind: str, *, delay_seconds: float = 0.0,
            **payload: Any) -> NewJob:
    """The job for one step of a change; one live job per change and step."""
    return NewJob(kind=kind, ops_change_id=change_id, payload={"change_id": change_id, **payload},
                  delay_seconds=delay_seconds, max_attempts=3,
                  dedupe_key=f"ops:{change_id}:{kind}")


@dataclass
class OpsService:
    db: Database
    settings: Any

    async def propose(self, request: ProposeRequest | dict[str, Any], *,
                      proposed_by: str = "") -> OpsChange:
        """Validate every patch path, store the change and queue its diff step; or, for an
        ``ask``, store the request and queue its draft step (a model writes the patches)."""
        if not isinstance(request, ProposeRequest):
            request = parse_propose(request)
        check_source(request)
        if request.ask is not None:
            return await self._propose_ask(request, proposed_by=proposed_by)
        assert request.patches is not None and request.title is not None  # check_source
        repo = default_repo_path(self.settings)
        check_paths([p.path for p in request.patches], PathPolicy.from_settings(self.settings),
                    symlink_target=disk_symlinks(repo) if repo is not None else None)
        change = OpsChange(
            title=request.title.strip() or request.title, description=request.description,
            patches=[p.model_dump() for p in request.patches], status="proposed",
            backend="github" if self.settings.github_repo else "local",
            proposed_by=proposed_by or os_user(),
        )  # The test command is the worker's (OPS_TEST_COMMAND where ops.test runs).
        async with self.db.session() as session:
            session.add(change)
            await session.flush()
            await queue.enqueue(session, ops_job(change.id, "ops.diff"))
        return change

    async def _propose_ask(self, request: ProposeRequest, *, proposed_by: str) -> OpsChange:
        """Store a request for a model-drafted change and queue ops.draft. The change then
        takes the same steps and the same approval gate as a person's patches."""
        assert request.ask is not None
        ask = request.ask.strip()
        model = drafting_model(self.settings)  # AI off: InvalidInput, nothing written
        if default_repo_path(self.settings) is None:
            raise InvalidInput("ask", "no repository to change: set OPS_REPO_PATH")
        title = (request.title or "").strip() or ask_title(ask)
        change = OpsChange(
            title=title, description=request.description or ask, patches=[],
            status="proposed", backend="github" if self.settings.github_repo else "local",
            proposed_by=ai_proposer(model, proposed_by or os_user()), ask=ask,
            ai_model=model)
        async with self.db.session() as session:
            session.add(change)
            await session.flush()
            await queue.enqueue(session, ops_job(change.id, "ops.draft"))
        return change

    async def list(self, *, status: str | None = None, limit: int = 100, offset: int = 0
                   ) -> list[OpsChange]:
        """Changes, newest first (only those with ``status``, if given); InvalidInput for an
        unknown status."""
        statuses = (*OPS_STATUSES, AWAITING_RUN_APPROVAL)
        if status is not None and status not in statuses:
            raise InvalidInput("status", f"must be one of {', '.join(statuses)}")
        query = select(OpsChange).order_by(OpsChange.id.desc()).limit(limit).offset(offset)
        if status == AWAITING_RUN_APPROVAL:
            query = query.where(OpsChange.status == "patched",
                                OpsChange.reason.startswith(RUN_APPROVAL_MARK))
        elif status:
            query = query.where(OpsChange.status == status)
        async with self.db.session() as session:
            return list((await session.scalars(query)).all())

    async def count(self, *, status: str | None = None) -> int:
        """How many changes (with ``status``, if given)."""
        query = select(func.count()).select_from(OpsChange)
        if status == AWAITING_RUN_APPROVAL:
            query = query.where(OpsChange.status == "patched",
                                OpsChange.reason.startswith(RUN_APPROVAL_MARK))
        elif status:
            query = query.where(OpsChange.status == status)
        async with self.db.session() as session:
            return int(await session.scalar(query) or 0)

    async def get(self, change_id: int) -> OpsChange:
        """One change by id; NotFound when there is none."""
        if not 0 < change_id < 2**63:  # no row has such an id (and bigint cannot hold it)
            raise NotFound(f"no ops change {change_id}")
        async with self.db.session() as session:
            change = await session.get(OpsChange, change_id)
        if change is None:
            raise NotFound(f"no ops change {change_id}")
        return change

    async def details(self, change_id: int) -> dict[str, Any]:
        """The change with its jobs (and runs), artifacts and approvals, as a JSON-ready dict."""
        change = await self.get(change_id)
        async with self.db.session() as session:
            jobs = (await session.scalars(
                select(Job).where(Job.ops_change_id == change_id)
                .options(selectinload(Job.runs)).order_by(Job.id))).all()
            artifacts = (await session.scalars(
                select(Artifact).where(Artifact.ops_change_id == change_id)
                .order_by(Artifact.id))).all()
            approvals = (await session.scalars(
                select(Approval).where(Approval.ops_change_id == change_id)
                .order_by(Approval.id))).all()
        data = change_dict(change)
        data["jobs"] = [job_dict(job) for job in jobs]
        data["artifacts"] = [artifact_dict(a) for a in artifacts]
        data["approvals"] = [
            {"decision": a.decision, "decidedBy": a.decided_by, "actor": a.actor,
             "principal": a.principal, "comment": a.comment, "createdAt": _ts(a.created_at)}
            for a in approvals]
        data["decidedBy"] = approvals[-1].principal if approvals else None
        return data

    async def decide(self, change_id: int, decision: str, *, decided_by: str = "person",
                     actor: str = "", comment: str = "", principal: str = "") -> OpsChange:
        """Approve (the canary deploy starts) or reject (the change is rolled back)."""
        if decision not in ("approved", "rejected"):
            raise InvalidInput("decision", "must be 'approved' or 'rejected'")
        if decided_by not in ("person", "api", "jason"):
            raise InvalidInput("decidedBy", "must be 'person', 'api' or 'jason'")
        async with self.db.session() as session:
            change = await session.get(OpsChange, change_id, with_for_update=True)
            if change is None:
                raise NotFound(f"no ops change {change_id}")
            if change.status != "awaiting_approval":
                raise Conflict(f"ops change {change_id} is not awaiting approval "
                               f"(it is {change.status})")
            session.add(Approval(ops_change_id=change_id, decided_by=decided_by, actor=actor,
                                 decision=decision, comment=comment,
                                 principal=principal or default_principal(decided_by)))
            # The decision makes the approval-timeout job pointless.
            await session.execute(text("""
                UPDATE jobs SET status = 'cancelled', finished_at = now(), updated_at = now()
                WHERE ops_change_id = :id AND kind = 'ops.expire' AND status = 'queued'
            """), {"id": change_id})
            if decision == "approved":
                change.status = "approved"
                await queue.enqueue(session, ops_job(change_id, "ops.deploy-canary"))
            else:
                who = f" by {actor}" if actor else ""
                change.status = "rejected"
                change.reason = f"rejected{who}" + (f": {comment}" if comment else "")
                await queue.enqueue(session, ops_job(change_id, "ops.rollback",
                                                     reason=change.reason))
            change.updated_at = func.now()
        return await self.get(change_id)

    async def approve_run(self, change_id: int, *, actor: str = "") -> OpsChange:
        """A person lets a change's tests run without a sandbox (none exists on this machine).

        Only a person does this (the desktop or the CLI, as their OS user); who approved is kept
        in the change's reason and in the ops.test job's payload.
        """
        async with self.db.session() as session:
            change = await session.get(OpsChange, change_id, with_for_update=True)
            if change is None:
                raise NotFound(f"no ops change {change_id}")
            if not awaiting_run_approval(change):
                raise Conflict(f"ops change {change_id} is not waiting for approval to run "
                               f"(it is {shown_status(change)})")
            who = actor or "a person"
            change.reason = f"running its tests without a sandbox, as approved by {who}"
            change.updated_at = func.now()
            await queue.enqueue(session, ops_job(change_id, "ops.test", run_approved_by=who))
        return await self.get(change_id)


def _ts(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def change_dict(change: OpsChange) -> dict[str, Any]:
    """The change as a JSON-ready dict (the status a person sees, camelCase keys)."""
    return {
        "id": change.id, "title": change.title, "description": change.description,
        "status": shown_status(change), "backend": change.backend,
        "paths": [p.get("path") for p in change.patches],
        "patches": change.patches, "diff": change.diff,
        "baseRef": change.base_ref, "baseSha": change.base_sha, "branch": change.branch,
        "headSha": change.head_sha, "prNumber": change.pr_number, "prUrl": change.pr_url,
        "testCommand": change.test_command, "testPassed": change.test_passed,
        "testSummary": change.test_summary, "canaryUrl": change.canary_url,
        "canaryProbes": change.canary_probes, "reason": change.reason,
        "proposedBy": change.proposed_by,
        # A change a model drafted on request: the request, the model, its tokens and drafts.
        "ask": change.ask, "aiModel": change.ai_model, "aiTokens": change.ai_tokens or 0,
        "aiDrafts": change.ai_drafts or 0,
        "createdAt": _ts(change.created_at), "updatedAt": _ts(change.updated_at),
    }
