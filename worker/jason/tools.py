"""Jason's commands as OpenAI tools (function calling), and the model's calls back into commands.

The tools are generated from the one command table (``commands.COMMANDS``): each command is a
function whose parameters are its slots, so the model can only ask for what the grammar can
say, and Jason carries its choice out through the same code (and the same "are you sure?" for
destructive commands). Two tools go beyond the table: ``plan_project`` (the AI planner proposes
a project from a description) and ``explain_project`` (a question about state, answered from
the database). A call is checked before anything runs: an unknown tool, arguments that are no
JSON object, an unknown parameter, a missing one or a value outside its choices is a
``BadToolCall`` (one line), and nothing is done.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from worker.ai.client import ToolCall
from worker.jason.commands import BY_NAME, COMMANDS, PERIODS, TABS, Command, tokens

PLAN_TOOL = "plan_project"
EXPLAIN_TOOL = "explain_project"
NOT_OFFERED = ("confirm_yes", "confirm_no")  # a yes or no is the person's to say
MAX_ENUM = 60  # more project names than this: a plain string (the prompt would balloon)

EXTRA_TOOLS: dict[str, dict[str, Any]] = {
    PLAN_TOOL: {
        "description": (
            "Plan a NEW project from a free description (e.g. “make me a site for my bakery "
            "with a menu page”): the AI planner picks a template and writes a plan; Jason "
            "shows it and asks before building."),
        "parameters": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "a short name for the new project, "
                                                          "e.g. “Sunflower Bakery”"},
                "description": {"type": "string",
                                "description": "what the person wants built, in their words"},
            },
            "required": ["name", "description"],
            "additionalProperties": False,
        },
    },
    EXPLAIN_TOOL: {
        "description": (
            "Answer a question about how things stand or why something happened (e.g. “why "
            "did the bakery fail?”) from the project's status, errors and logs. Leave project "
            "out for a question about everything."),
        "parameters": {
            "type": "object",
            "properties": {"project": {"type": "string",
                                       "description": "the existing project asked about"}},
            "required": [],
            "additionalProperties": False,
        },
    },
}


class BadToolCall(ValueError):
    """The model's tool call cannot be carried out (message: one line, says why)."""


@dataclass(frozen=True)
class ToolRequest:
    """A checked tool call: a command name (or an extra tool) and its string arguments."""

    name: str
    args: dict[str, str] = field(default_factory=dict)


def required_slots(cmd: Command) -> list[str]:
    """The slots every phrase of the command fills (the others are optional)."""
    required = None
    for phrase in cmd.phrases:
        present = {tok.slot for tok in tokens(phrase) if tok.slot and not tok.optional}
        required = present if required is None else required & present
    return [slot for slot in cmd.slots if slot in (required or set()) and
            slot not in cmd.defaults]


def slot_schema(slot_type: str, projects: Sequence[str], templates: Sequence[str]
                ) -> dict[str, Any]:
    """A slot's JSON Schema: fixed vocabularies and the known names as ``enum``."""
    if slot_type == "project":
        schema: dict[str, Any] = {"type": "string", "description": "an existing project's name"}
        if projects and len(projects) <= MAX_ENUM:
            schema["enum"] = list(projects)
        return schema
    if slot_type == "new_project":
        return {"type": "string", "description": "the new project's name"}
    if slot_type == "template":
        return {"type": "string", "description": "the template to build from",
                "enum": list(templates)}
    if slot_type == "tab":
        return {"type": "string", "enum": list(TABS)}
    if slot_type == "period":
        return {"type": "string", "enum": list(PERIODS)}
    return {"type": "string"}


def command_tool(cmd: Command, projects: Sequence[str], templates: Sequence[str]
                 ) -> dict[str, Any]:
    description = cmd.help
    if cmd.destructive and "confirmation" not in description:
        description += " (asks for confirmation)"
    return {"type": "function", "function": {
        "name": cmd.name,
        "description": description,
        "parameters": {
            "type": "object",
            "properties": {slot: slot_schema(st, projects, templates)
                           for slot, st in cmd.slots.items()},
            "required": required_slots(cmd),
            "additionalProperties": False,
        },
    }}


def jason_tools(projects: Sequence[str] = (), templates: Sequence[str] = ()
                ) -> list[dict[str, Any]]:
    """Every command of the table as an OpenAI tool, then the planner and the explainer."""
    tools = [command_tool(cmd, projects, templates) for cmd in COMMANDS
             if cmd.name not in NOT_OFFERED]
    tools += [{"type": "function", "function": {"name": name, **spec}}
              for name, spec in EXTRA_TOOLS.items()]
    return tools


def _parameters(name: str) -> tuple[dict[str, str], list[str]]:
    """name -> ({parameter: slot type}, required parameters)."""
    if name in EXTRA_TOOLS:
        params = EXTRA_TOOLS[name]["parameters"]
        return ({p: "project" if p == "project" else "text" for p in params["properties"]},
                list(params["required"]))
    cmd = BY_NAME[name]
    return dict(cmd.slots), required_slots(cmd)


def read_call(call: ToolCall, templates: Sequence[str] = ()) -> ToolRequest:
    """The model's call, checked against the tools Jason offers; ``BadToolCall`` otherwise."""
    name = call.name
    if name not in EXTRA_TOOLS and (name not in BY_NAME or name in NOT_OFFERED):
        raise BadToolCall(f"the model asked for a tool Jason does not have ({name!r})")
    try:
        raw = json.loads(call.arguments or "{}")
    except ValueError as exc:
        raise BadToolCall(f"the model's arguments for {name} are not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise BadToolCall(f"the model's arguments for {name} are not a JSON object")
    params, required = _parameters(name)
    unknown = sorted(set(raw) - set(params))
    if unknown:
        raise BadToolCall(f"{name} has no parameter {', '.join(map(repr, unknown))}")
    args: dict[str, str] = {}
    for key, value in raw.items():
        if value is None:
            continue
        if not isinstance(value, str):
            raise BadToolCall(f"{name}'s {key} must be text, not {json.dumps(value)}")
        if value.strip():
            args[key] = " ".join(value.split())
    missing = [p for p in required if p not in args]
    if missing:
        raise BadToolCall(f"the model called {name} without {', '.join(missing)}")
    choices = {"tab": list(TABS), "period": list(PERIODS), "template": list(templates)}
    for key, value in args.items():
        allowed = choices.get(params[key])
        if allowed is not None and value not in allowed:
            raise BadToolCall(f"{name}'s {key} {value!r} is not one of: {', '.join(allowed)}")
    if name in BY_NAME:
        args = {**BY_NAME[name].defaults, **args}
    return ToolRequest(name, args)
