"""A described project: the AI planner proposes, a person reviews and edits, Titan creates it.

Shared by the front ends that plan (the desktop's "Describe it" box; ``titan project create
--describe`` does the same steps). ``propose_plan`` asks the configured model (or the local one)
through ``worker.ai``; ``reviewed_plan`` checks a plan a person has edited by the same rules as
the model's answer (the template exists, the spec passes its schema, every feature has
milestones and every milestone goals, each goal names a pipeline step); ``create_planned``
stores the project with that plan and files the planner's ledger rows under it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from worker.ai import open_client
from worker.ai.builds import plannable
from worker.ai.client import OnDelta, validation_summary
from worker.ai.planner import ROOMY, ProjectPlan, propose
from worker.config import Settings
from worker.db.engine import Database
from worker.db.models import PIPELINE_STEPS, Project
from worker.errors import InvalidInput
from worker.services.projects import ProjectCreate, ProjectService
from worker.templates import PlanNode, TemplateRegistry

TITLE_MAX = ROOMY.title_chars  # a person's plan may be as big as a capable model's
KIND_CHILD = {"feature": "milestone", "milestone": "goal"}


async def propose_plan(settings: Settings, db: Database, registry: TemplateRegistry, name: str,
                       description: str, *, on_delta: OnDelta | None = None,
                       on_repair: Callable[[], None] | None = None) -> ProjectPlan:
    """The model's plan for a new project (``AIError`` subclasses on failure, ``AIOff`` when
    no model is at hand). ``on_delta`` gets the answer as it streams; ``on_repair`` is called
    when a repair round starts streaming (the first answer did not validate). Cancelling the
    awaiting task cancels the call; the ledger records it as "cancelled"."""
    if not description.strip():
        raise InvalidInput("description", "describe the project in a few words")
    async with open_client(settings, db, keep_local=True) as client:
        rows = len(client.recorded_ids)

        def delta(text: str) -> None:
            nonlocal rows
            if len(client.recorded_ids) != rows:  # a call ended: this is the repair round
                rows = len(client.recorded_ids)
                if on_repair is not None:
                    on_repair()
            if on_delta is not None:
                on_delta(text)

        return await propose(client, plannable(registry, settings), name, description,
                             on_delta=delta)


def reviewed_plan(registry: TemplateRegistry, template: str, spec: dict[str, Any],
                  nodes: Sequence[PlanNode], *, call_ids: Sequence[int] = ()) -> ProjectPlan:
    """The plan as the person left it, checked like the model's answer. ``InvalidInput`` names
    the field: ``template``, ``spec.<path>`` (from the template's schema) or ``plan``."""
    if template not in registry.refs():
        raise InvalidInput("template", f"unknown template {template!r}")
    checked_spec = registry.get(template).validate_spec(dict(spec))
    _check_tree(nodes)
    try:
        plan = ProjectPlan.model_validate({
            "template": template, "spec": checked_spec,
            "features": [{"title": f.title.strip(), "milestones": [
                {"title": m.title.strip(), "goals": [
                    {"title": g.title.strip(), "step": g.step} for g in m.children]}
                for m in f.children]} for f in nodes]})
    except ValidationError as exc:
        raise InvalidInput("plan", validation_summary(exc)) from None
    plan._call_ids = list(call_ids)
    return plan


def _check_tree(nodes: Sequence[PlanNode], parent: PlanNode | None = None) -> None:
    """Plain words for the mistakes an edit can make (an empty title, a milestone left
    without goals), naming the item; the model's limits are checked after this."""
    if parent is None and not nodes:
        raise InvalidInput("plan", "the plan needs at least one feature")
    for node in nodes:
        where = f"{node.kind} “{node.title.strip()}”" if node.title.strip() else f"a {node.kind}"
        if not node.title.strip():
            raise InvalidInput("plan", f"{where} has no title"
                               + (f" (under {parent.kind} “{parent.title}”)" if parent else ""))
        if len(node.title.strip()) > TITLE_MAX:
            raise InvalidInput("plan", f"{where}: a title is at most {TITLE_MAX} characters")
        child = KIND_CHILD.get(node.kind)
        if child is None:
            if node.step not in PIPELINE_STEPS:
                raise InvalidInput("plan", f"{where} needs a pipeline step (one of: "
                                   f"{', '.join(PIPELINE_STEPS)})")
            continue
        if not node.children:
            raise InvalidInput("plan", f"{where} needs at least one {child}")
        _check_tree(node.children, node)


async def create_planned(service: ProjectService, request: ProjectCreate,
                         plan: ProjectPlan) -> Project:
    """Create the project the plan describes (its template, spec and tree), filing the
    planner's ledger rows under it; Conflict when the name's slug is taken."""
    planned = request.model_copy(update={"template_ref": plan.template, "spec": plan.spec})
    return await service.create(planned, plan=plan.nodes(), ai_call_ids=plan.call_ids)
