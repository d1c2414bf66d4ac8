"""The planner: a free description becomes a template, a spec and a plan tree.

The model picks one of the installed templates (it sees each one's ref, title, description, type
and spec schema), writes a spec for it and a plan (features -> milestones -> goals). Every goal
names the pipeline step whose success ticks it, so the pipeline keeps ticking an AI plan exactly
as it ticks a template's own. An unknown template or a spec that breaks the template's JSON
Schema makes the answer invalid: the client asks once for a repair quoting the error, then fails
with one line (``AIInvalidAnswer``).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field, JsonValue, PrivateAttr, model_validator

from worker.ai.client import AIClient, OnDelta
from worker.errors import InvalidInput
from worker.templates import PlanNode, TemplateRegistry

PURPOSE = "plan"
MAX_TOKENS = 1500  # a plan is short; a looping small model stops here (and gets repaired)
Step = Literal["scaffold", "build", "deploy", "verify", "publish"]


class PlannedGoal(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    step: Step  # the pipeline step whose success ticks this goal off


class PlannedMilestone(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    goals: list[PlannedGoal] = Field(min_length=1, max_length=10)


class PlannedFeature(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    milestones: list[PlannedMilestone] = Field(min_length=1, max_length=6)


class ProjectPlan(BaseModel):
    """What the model answers (checked against the registry by ``plan_model``'s subclass)."""

    template: str = Field(min_length=1, max_length=200)
    spec: dict[str, Any]
    features: list[PlannedFeature] = Field(min_length=1, max_length=12)
    # The ledger rows of the calls that made this plan (set by ``propose``); pass them to
    # ``ProjectService.create(..., ai_call_ids=...)`` so they are filed under the project.
    _call_ids: list[int] = PrivateAttr(default_factory=list)

    @property
    def call_ids(self) -> list[int]:
        return list(self._call_ids)

    def nodes(self) -> list[PlanNode]:
        """The plan as the tree ``plan_items`` stores."""
        return [PlanNode(f.title, "feature", children=[
            PlanNode(m.title, "milestone", children=[
                PlanNode(g.title, "goal", g.step) for g in m.goals])
            for m in f.milestones]) for f in self.features]

    def as_dict(self) -> dict[str, Any]:
        return {"template": self.template, "spec": self.spec,
                "plan": [node_dict(n) for n in self.nodes()]}


def node_dict(node: PlanNode) -> dict[str, Any]:
    return {"kind": node.kind, "title": node.title, "step": node.step,
            "children": [node_dict(c) for c in node.children]}


def plan_model(registry: TemplateRegistry) -> type[ProjectPlan]:
    """``ProjectPlan`` whose validation also checks the template exists and the spec passes
    that template's schema (so a bad spec gets the client's repair round)."""
    refs = registry.refs()

    class PlannedProject(ProjectPlan):
        # The enum is for the schema only (llama.cpp turns it into a grammar, so even a small
        # model names a real template); the validator below gives the error a repair quotes.
        template: str = Field(min_length=1, max_length=200,
                              json_schema_extra={"enum": list[JsonValue](refs)})

        @model_validator(mode="after")
        def _fits_a_template(self) -> PlannedProject:
            if self.template not in refs:
                raise ValueError(f"template: unknown template {self.template!r} "
                                 f"(choose one of: {', '.join(refs) or 'none'})")
            try:
                self.spec = registry.get(self.template).validate_spec(self.spec)
            except InvalidInput as exc:
                raise ValueError(f"spec does not fit template {self.template}: {exc}") from None
            return self

    return PlannedProject


def messages(registry: TemplateRegistry, name: str, description: str) -> list[dict[str, str]]:
    catalogue = [{"ref": t.ref, "title": t.title, "description": t.description,
                  "type": t.default_type, "spec_schema": t.spec_schema}
                 for t in registry.all()]
    system = (
        "You plan software projects for Titan, which builds them from templates. Choose the "
        "one template that fits the description best, write a spec that validates against that "
        "template's spec_schema, and write a plan for this project: features, each with "
        "milestones, each with goals. Every goal names the pipeline step that achieves it: "
        "scaffold (write the code), build (build and test), deploy (run it on this machine), "
        "verify (check it works), publish (release it). Answer with one JSON object: "
        '{"template": REF, "spec": {...}, "features": [{"title": ..., "milestones": '
        '[{"title": ..., "goals": [{"title": ..., "step": ...}]}]}]}.\n'
        f"Installed templates: {json.dumps(catalogue)}")
    user = f"Project name: {name}\nDescription: {description}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


async def propose(client: AIClient, registry: TemplateRegistry, name: str,
                  description: str, *, on_delta: OnDelta | None = None) -> ProjectPlan:
    """The model's plan for the project; ``AIInvalidAnswer`` when it cannot give a valid one
    even after a repair request (nothing is written but the ledger rows). ``on_delta`` gets
    the answer's text as it streams (a repair round streams again from its start)."""
    if not registry.refs():
        raise InvalidInput("template", "no templates are installed to plan with")
    first_row = len(client.recorded_ids)
    plan = await client.ask_structured(messages(registry, name, description),
                                       plan_model(registry), purpose=PURPOSE, temperature=0.2,
                                       max_tokens=MAX_TOKENS, on_delta=on_delta)
    plan._call_ids = client.recorded_ids[first_row:]
    return plan
