"""The planner: a free description becomes a template, a spec and a plan tree.

The model picks one of the installed templates, writes a spec for it and a plan (features ->
milestones -> goals). Every goal names the pipeline step whose success ticks it, so the
pipeline keeps ticking an AI plan exactly as it ticks a template's own.

The JSON Schema sent with the request is built for grammar-constrained decoding (llama.cpp and
Ollama turn it into a grammar), because a tiny model such as SmolLM2-135M follows a grammar
but loops wherever the grammar lets it:

* one ``anyOf`` branch per template, ``{"template": <const ref>, "spec": ..., "features": ...}``,
  so the spec the model writes is the chosen template's, not any object;
* every string has a ``maxLength`` (or an anchored ``pattern``), every array a ``maxItems``,
  every object ``additionalProperties: false``: the answer is bounded, so ``MAX_TOKENS`` always
  fits a complete one;
* the spec part holds only the template's ``description`` and ``features`` (and any property
  its schema requires); the rest take the template's defaults. Unanchored patterns (``\\S``)
  are left out: llama.cpp's converter rejects them and then silently falls back to *any* JSON.

The answer is validated with pydantic against the same bounds, then the spec against that
schema and the template's own; an invalid answer gets the client's one repair request quoting
the error, then ``AIInvalidAnswer``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from worker.ai.client import AIClient, OnDelta
from worker.errors import InvalidInput
from worker.templates import PlanNode, Template, TemplateRegistry, first_schema_error

PURPOSE = "plan"
STEPS = ("scaffold", "build", "deploy", "verify", "publish")
Step = Literal["scaffold", "build", "deploy", "verify", "publish"]

TEMPERATURE = 0.0


@dataclass(frozen=True)
class Bounds:
    """How big an answer may be, in the schema sent and in validation alike."""

    title_chars: int
    features: int
    milestones: int
    goals: int
    spec_text_chars: int  # a spec string without a pattern of its own
    spec_items: int  # items of a spec list (pages, subcommands, resources)
    max_tokens: int


# The model on this machine (SmolLM2-135M) loops wherever the grammar lets it: a small plan.
# Its longest answer is ~3,000 characters (18 goals of 60 characters and their JSON); its
# tokenizer averages > 3 characters a token on it, so max_tokens fits a complete answer and stops
# nothing but a runaway.
SMALL = Bounds(title_chars=60, features=3, milestones=2, goals=3, spec_text_chars=160,
               spec_items=3, max_tokens=1200)
# Any other endpoint (Ollama, a hosted model) is trusted with a plan a person would write: a
# site with eight pages gets eight, not three. Still bounded, so a runaway answer ends.
ROOMY = Bounds(title_chars=100, features=8, milestones=4, goals=6, spec_text_chars=400,
               spec_items=12, max_tokens=6000)


def bounds_for(client: AIClient) -> Bounds:
    return SMALL if client.endpoint.local else ROOMY


class _Plain(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)


# The pydantic models hold the outer limits (ROOMY); ``plan_model`` checks the answer against
# the schema sent too, which holds the endpoint's own.
class PlannedGoal(_Plain):
    title: str = Field(min_length=1, max_length=ROOMY.title_chars)
    step: Step  # the pipeline step whose success ticks this goal off


class PlannedMilestone(_Plain):
    title: str = Field(min_length=1, max_length=ROOMY.title_chars)
    goals: list[PlannedGoal] = Field(min_length=1, max_length=ROOMY.goals)


class PlannedFeature(_Plain):
    title: str = Field(min_length=1, max_length=ROOMY.title_chars)
    milestones: list[PlannedMilestone] = Field(min_length=1, max_length=ROOMY.milestones)


class ProjectPlan(_Plain):
    """What the model answers (checked against the registry by ``plan_model``'s subclass)."""

    template: str = Field(min_length=1, max_length=200)
    spec: dict[str, Any]
    features: list[PlannedFeature] = Field(min_length=1, max_length=ROOMY.features)
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


# -- the schema sent ----------------------------------------------------------------------------

def _text(max_chars: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_chars}


def plan_schema(bounds: Bounds = SMALL) -> dict[str, Any]:
    """The plan tree's schema (features -> milestones -> goals), bounded everywhere."""
    goal = {"type": "object", "properties": {"title": _text(bounds.title_chars),
                                             "step": {"enum": list(STEPS)}},
            "required": ["title", "step"], "additionalProperties": False}
    milestone = {"type": "object", "properties": {
        "title": _text(bounds.title_chars),
        "goals": {"type": "array", "items": goal, "minItems": 1, "maxItems": bounds.goals}},
        "required": ["title", "goals"], "additionalProperties": False}
    feature = {"type": "object", "properties": {
        "title": _text(bounds.title_chars),
        "milestones": {"type": "array", "items": milestone, "minItems": 1,
                       "maxItems": bounds.milestones}},
        "required": ["title", "milestones"], "additionalProperties": False}
    return {"type": "array", "items": feature, "minItems": 1, "maxItems": bounds.features}


def _anchored(pattern: Any) -> bool:
    return isinstance(pattern, str) and pattern.startswith("^") and pattern.endswith("$")


def _bounded(schema: dict[str, Any], bounds: Bounds) -> dict[str, Any]:
    """A property's schema as a grammar can hold a small model to it (see the module doc)."""
    if "enum" in schema:
        return {"enum": list(schema["enum"])}
    if "const" in schema:
        return {"const": schema["const"]}
    kind = schema.get("type")
    if kind == "string":
        if _anchored(schema.get("pattern")):
            return {"type": "string", "pattern": schema["pattern"]}
        limit = min(int(schema.get("maxLength", bounds.spec_text_chars)),
                    bounds.spec_text_chars)
        return _text(max(limit, int(schema.get("minLength", 1)), 1))
    if kind == "array":
        items = schema.get("items")
        limit = min(int(schema.get("maxItems", bounds.spec_items)), bounds.spec_items)
        return {"type": "array",
                "items": _bounded(items if isinstance(items, dict) else {}, bounds),
                "minItems": min(max(int(schema.get("minItems", 1)), 1), limit),
                "maxItems": limit}
    if kind == "object":
        return _bounded_object(schema, (), bounds)
    if kind in ("integer", "number", "boolean"):
        return {"type": kind}
    return _text(bounds.spec_text_chars)  # no type said: a short text is a valid guess


def _bounded_object(schema: dict[str, Any], keep: tuple[str, ...],
                    bounds: Bounds) -> dict[str, Any]:
    properties = schema.get("properties") or {}
    names = [n for n in (*keep, *schema.get("required", ())) if n in properties]
    names = list(dict.fromkeys(names))
    return {"type": "object",
            "properties": {n: _bounded(properties[n], bounds) for n in names},
            "required": names, "additionalProperties": False}


def spec_schema(template: Template, bounds: Bounds = SMALL) -> dict[str, Any]:
    """The part of the template's spec the model writes: its description and features (and
    whatever the template requires), bounded; the template's defaults fill in the rest."""
    return _bounded_object(template.spec_schema, ("description", "features"), bounds)


def answer_schema(registry: TemplateRegistry, bounds: Bounds = SMALL) -> dict[str, Any]:
    """The JSON Schema sent: one branch per installed template."""
    plan = plan_schema(bounds)
    branches = [{"type": "object", "properties": {
        "template": {"const": t.ref}, "spec": spec_schema(t, bounds), "features": plan},
        "required": ["template", "spec", "features"], "additionalProperties": False}
        for t in registry.all()]
    # "type" at the root too: some hosted APIs want an object there (grammars take the anyOf).
    return branches[0] if len(branches) == 1 else {"type": "object", "anyOf": branches}


def plan_model(registry: TemplateRegistry, bounds: Bounds = SMALL) -> type[ProjectPlan]:
    """``ProjectPlan`` whose schema is ``answer_schema`` and whose validation also checks the
    template exists and the spec passes the schema sent and the template's own (so a bad spec
    gets the client's repair round)."""
    refs = registry.refs()
    schema = answer_schema(registry, bounds)
    tree = plan_schema(bounds)

    class PlannedProject(ProjectPlan):
        @classmethod
        def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
            return json.loads(json.dumps(schema))  # a copy: callers may change theirs

        @model_validator(mode="after")
        def _fits_a_template(self) -> PlannedProject:
            if self.template not in refs:
                raise ValueError(f"template: unknown template {self.template!r} "
                                 f"(choose one of: {', '.join(refs) or 'none'})")
            features = [f.model_dump() for f in self.features]
            error = first_schema_error(tree, features, root="features")
            if error is not None:
                raise ValueError(f"{error[0]}: {error[1]}")
            template = registry.get(self.template)
            error = first_schema_error(spec_schema(template, bounds), self.spec)
            try:
                if error is not None:
                    raise InvalidInput(*error)
                self.spec = template.validate_spec(self.spec)
            except InvalidInput as exc:
                raise ValueError(f"spec does not fit template {self.template}: {exc}") from None
            return self

    return PlannedProject


# -- the prompt ---------------------------------------------------------------------------------

# Worked examples for the bundled templates (one each, offered when the template is installed):
# a small model copies the shape of an example far better than it follows a description. Their
# order matters to SmolLM2 (measured in bench/README.md): with the API example last it picks
# fastapi/service at all.
EXAMPLES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "persona/basic": ("Green Thumb", "a website for my gardening business with a services "
                      "page and contact details", {
        "template": "persona/basic",
        "spec": {"description": "A gardening business in the heart of town.",
                 "features": ["Services", "Contact"]},
        "features": [{"title": "Services page", "milestones": [
            {"title": "Write the pages", "goals": [
                {"title": "Write the services page", "step": "scaffold"},
                {"title": "Check the links", "step": "build"}]},
            {"title": "Put it online", "goals": [
                {"title": "Serve the site", "step": "deploy"},
                {"title": "Open the services page", "step": "verify"},
                {"title": "Publish the site", "step": "publish"}]}]}]}),
    "python/cli": ("Photo Renamer", "a command-line tool that renames my photos by date", {
        "template": "python/cli",
        "spec": {"description": "Renames photos by the date they were taken.",
                 "features": ["rename", "preview"]},
        "features": [{"title": "Rename photos", "milestones": [
            {"title": "Write the tool", "goals": [
                {"title": "Write the rename command", "step": "scaffold"},
                {"title": "Test renaming", "step": "build"}]},
            {"title": "Release it", "goals": [
                {"title": "Install the tool", "step": "deploy"},
                {"title": "Run the rename command", "step": "verify"},
                {"title": "Publish the wheel", "step": "publish"}]}]}]}),
    "fastapi/service": ("Book Tracker", "an API service to keep track of the books I read", {
        "template": "fastapi/service",
        "spec": {"description": "Keeps track of books and their authors.",
                 "features": ["books", "authors"]},
        "features": [{"title": "Books API", "milestones": [
            {"title": "Write the endpoints", "goals": [
                {"title": "Write the books endpoint", "step": "scaffold"},
                {"title": "Test the endpoints", "step": "build"}]},
            {"title": "Serve it", "goals": [
                {"title": "Start the service", "step": "deploy"},
                {"title": "Call the books endpoint", "step": "verify"},
                {"title": "Publish the service", "step": "publish"}]}]}]}),
    # Offered only when AI builds are on (the template needs a model to write the project).
    "ai/python-app": ("Tip Splitter", "a small program that splits a restaurant bill between "
                      "friends, tip included", {
        "template": "ai/python-app",
        "spec": {"description": "Splits a restaurant bill between friends, tip included."},
        "features": [{"title": "Split the bill", "milestones": [
            {"title": "Write the program", "goals": [
                {"title": "Plan and write the modules", "step": "scaffold"},
                {"title": "Pass its tests", "step": "build"}]},
            {"title": "Release it", "goals": [
                {"title": "Build the wheel", "step": "deploy"},
                {"title": "Run the command", "step": "verify"},
                {"title": "Publish the wheel and sources", "step": "publish"}]}]}]}),
}


def _feature_words(template: Template) -> str:
    features = (template.spec_schema.get("properties") or {}).get("features") or {}
    return str(features.get("description") or "").strip()


def _user(name: str, description: str) -> str:
    return f"Project name: {name}\nDescription: {description}"


def messages(registry: TemplateRegistry, name: str, description: str) -> list[dict[str, str]]:
    lines = []
    for t in registry.all():
        words = _feature_words(t)
        kinds = ", ".join(t.project_types)
        lines.append(f"- {t.ref} (for a {kinds}): {t.title}. {t.description}"
                     + (f" Spec features: {words}" if words else ""))
    system = (
        "You plan software projects for Titan, which builds each project from one template. "
        "The templates:\n" + "\n".join(lines) + "\n"
        "Choose the template that fits the description, write its spec (a one-sentence "
        "description and a few features) and a plan for this project: features, each with "
        "milestones, each with goals. Every goal names the pipeline step that achieves it: "
        "scaffold (write the code), build (build and test), deploy (run it on this machine), "
        "verify (check it works), publish (release it). Answer with one JSON object.")
    chat: list[dict[str, str]] = [{"role": "system", "content": system}]
    installed = set(registry.refs())
    for ref, (ex_name, ex_description, answer) in EXAMPLES.items():
        if ref in installed:
            chat += [{"role": "user", "content": _user(ex_name, ex_description)},
                     {"role": "assistant", "content": json.dumps(answer)}]
    chat.append({"role": "user", "content": _user(name, description)})
    return chat


async def propose(client: AIClient, registry: TemplateRegistry, name: str,
                  description: str, *, on_delta: OnDelta | None = None,
                  bounds: Bounds | None = None) -> ProjectPlan:
    """The model's plan for the project; ``AIInvalidAnswer`` when it cannot give a valid one
    even after a repair request (nothing is written but the ledger rows). ``on_delta`` gets
    the answer's text as it streams (a repair round streams again from its start). ``bounds``:
    how big a plan may be (default: ``SMALL`` for the model on this machine, else ``ROOMY``)."""
    if not registry.refs():
        raise InvalidInput("template", "no templates are installed to plan with")
    bounds = bounds or bounds_for(client)
    first_row = len(client.recorded_ids)
    plan = await client.ask_structured(messages(registry, name, description),
                                       plan_model(registry, bounds), purpose=PURPOSE,
                                       temperature=TEMPERATURE, max_tokens=bounds.max_tokens,
                                       on_delta=on_delta)
    plan._call_ids = client.recorded_ids[first_row:]
    return plan
