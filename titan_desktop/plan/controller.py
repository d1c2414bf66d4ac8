"""Describe it: the planner runs as a coroutine on the qasync loop (the UI never waits), its answer
streams in as it arrives, then the person reviews the plan and builds it or drops it.

States: ``idle`` → ``planning`` (text streams) → ``review`` (the plan is shown for editing) →
``building`` → ``idle`` (created) — or back to ``idle`` on Discard, on Cancel (the call is
cancelled; the ledger records "cancelled") and on an error (one line; nothing is created).
"""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import QObject, Signal

from titan_desktop.context import AppContext
from worker.ai import AIConfigError, AIError, ai_off_reason
from worker.ai.endpoint import configured_endpoint
from worker.ai.local import LOCAL_MODEL
from worker.ai.planner import ProjectPlan
from worker.db.models import Project
from worker.errors import Conflict, InvalidInput, TitanError
from worker.logs import get_logger
from worker.services.planning import create_planned, propose_plan, reviewed_plan
from worker.services.projects import ProjectCreate, parse_create
from worker.templates import PlanNode, Template

log = get_logger("titan.desktop.plan")

# Between the first answer and the repair round in the streamed text.
REPAIR_MARK = "\n\n— that answer did not fit the schema; Titan asked the model to correct it —\n\n"

ROUGH_DRAFTS = (f"The model on this machine ({LOCAL_MODEL}) is tiny: it writes rough drafts. "
                "For real plans connect Ollama or a hosted model in File → Settings.")


class PlanController(QObject):
    stateChanged = Signal(str)  # idle | planning | review | building
    delta = Signal(str)  # a piece of the model's answer, as it arrives
    proposed = Signal(object)  # ProjectPlan, ready for review
    failed = Signal(str)  # one line: why nothing was planned or created
    fieldError = Signal(str, str)  # field path (name, description, template, spec.x, plan), message
    created = Signal(object)  # Project
    message = Signal(str)  # a status line (cancelled, discarded, created)

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.registry = ctx.projects.templates
        self.state = "idle"
        self.plan: ProjectPlan | None = None
        self.streamed = ""  # the answer so far (a repair round streams on after it)
        self._task: asyncio.Task[Any] | None = None
        self._off: tuple[str | None] | None = None

    # -- what the box says about the model -----------------------------------------------------

    def off_reason(self) -> str | None:
        """Why planning is impossible (AI is off, or its settings contradict), else None.
        Settings apply at restart, so this is worked out once."""
        if self._off is None:
            try:
                configured_endpoint(self.ctx.settings)
                self._off = (ai_off_reason(self.ctx.settings),)
            except AIConfigError as exc:
                self._off = (f"AI is misconfigured: {exc}. Fix it in File → Settings.",)
        return self._off[0]

    def model_note(self) -> str:
        """Which model plans (a note that the local one writes rough drafts)."""
        if self.off_reason() is not None:
            return ""
        endpoint = configured_endpoint(self.ctx.settings)
        if endpoint is None:
            return ROUGH_DRAFTS
        return f"Planned by {endpoint.model} at {endpoint.safe_url}."

    def templates(self) -> list[Template]:
        return self.registry.all()

    # -- actions -------------------------------------------------------------------------------

    def plan_it(self, name: str, description: str) -> None:
        if self.state in ("planning", "building"):
            return
        reason = self.off_reason()
        if reason is not None:
            self.failed.emit(reason)
            return
        try:
            parse_create({"name": name})  # a bad name fails before any AI call
        except InvalidInput as exc:
            self.fieldError.emit("name", exc.message)
            return
        if not description.strip():
            self.fieldError.emit("description", "describe the project in a few words")
            return
        self.plan = None
        self.streamed = ""
        self._set_state("planning")
        self._task = self.ctx.spawn(self._plan(name, description))

    def cancel(self) -> None:
        """Stop the call under way (the client closes the stream; the ledger says cancelled)."""
        if self.state == "planning" and self._task is not None and not self._task.done():
            self._task.cancel()

    def discard(self) -> None:
        if self.state != "review":
            return
        self.plan = None
        self._set_state("idle")
        self.message.emit("Plan discarded; nothing was created.")

    def build(self, name: str, template: str, spec: dict[str, Any], nodes: list[PlanNode], *,
              requires_approval: bool) -> None:
        if self.state != "review" or self.plan is None:
            return
        try:
            request = parse_create({"name": name, "requiresApproval": requires_approval})
            plan = reviewed_plan(self.registry, template, spec, nodes,
                                 call_ids=self.plan.call_ids)
        except InvalidInput as exc:
            self.fieldError.emit(exc.field, exc.message)
            return
        self._set_state("building")
        self._task = self.ctx.spawn(self._build(request, plan))

    # -- coroutines ----------------------------------------------------------------------------

    async def _plan(self, name: str, description: str) -> None:
        try:
            plan = await propose_plan(self.ctx.settings, self.ctx.db, self.registry, name,
                                      description, on_delta=self._on_delta,
                                      on_repair=self._on_repair)
        except asyncio.CancelledError:
            self._set_state("idle")
            self.message.emit("Planning cancelled; nothing was created.")
            raise
        except InvalidInput as exc:
            self._set_state("idle")
            self.fieldError.emit(exc.field, exc.message)
            return
        except (AIError, TitanError) as exc:
            self._set_state("idle")
            self.failed.emit(one_line(str(exc)))
            return
        except Exception as exc:  # an unexpected failure still ends in one line, not a hang
            log.error("planning failed", error=f"{type(exc).__name__}: {exc}")
            self._set_state("idle")
            self.failed.emit(one_line(f"planning failed: {type(exc).__name__}: {exc}"))
            return
        self.plan = plan
        self._set_state("review")
        self.proposed.emit(plan)

    def _on_delta(self, text: str) -> None:
        self.streamed += text
        self.delta.emit(text)

    def _on_repair(self) -> None:
        self._on_delta(REPAIR_MARK)

    async def _build(self, request: ProjectCreate, plan: ProjectPlan) -> None:
        try:
            project: Project = await create_planned(self.ctx.projects, request, plan)
        except InvalidInput as exc:
            self._set_state("review")
            self.fieldError.emit(exc.field, exc.message)
            return
        except Conflict as exc:
            self._set_state("review")
            self.fieldError.emit("name", str(exc))
            return
        except TitanError as exc:
            self._set_state("review")
            self.failed.emit(one_line(str(exc)))
            return
        self.plan = None
        self._set_state("idle")
        self.message.emit(f"Created {project.name} ({project.slug}) from template "
                          f"{project.template_ref}; the worker picks it up.")
        self.created.emit(project)

    def _set_state(self, state: str) -> None:
        self.state = state
        self.stateChanged.emit(state)


def one_line(text: str, limit: int = 400) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
