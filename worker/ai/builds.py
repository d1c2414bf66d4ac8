"""Templates' AI work in the pipeline: after a template's deterministic scaffold, a model writes
what the template declares in its manifest's ``ai`` block (docs/ai-builds.md).

- ``code``: the model edits the project's workspace through the repair loop
  (``worker.ai.repair.run_repair``) until the declared check passes in the sandbox.
- ``content``: the model answers one JSON object that must match the declared JSON Schema; it is
  written to the declared file, which the template's build renders (autoescaped).

Whether the pipeline asks a model at all (``ai_builds_off``): ``TITAN_AI_BUILDS`` = ``auto``
(the default: when an endpoint is configured, TITAN_AI_URL), ``on`` (also the local model of the
``ai-local`` extra) or ``off``. Without a model, a template builds exactly as it always did.

What the model wrote is kept (``OUTPUT_DIR/.ai-builds/<slug>.json``) and a worker that replays the
scaffold (jobs.py: the earlier steps ran on another machine) writes it again instead of asking
the model again: the model's answer is not deterministic, the spec is. The workdir gets a marker
(``.titan-ai/accepted.json``) so later steps know the project holds model-written code, which
runs only in the sandbox.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.ai.errors import AIError, AIInvalidAnswer, BudgetExceeded
from worker.config import Settings
from worker.db.engine import Database
from worker.errors import InvalidInput, PermanentError
from worker.templatekit.testing import AI_MARKER as MARKER
from worker.templates import StepContext, Template, TemplateRegistry

CONTENT_PURPOSE = "content"
CODE_PURPOSE = "code"
QUIET_PYTEST = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}

Log = Callable[[str], None]


def ai_builds_off(settings: Settings) -> str | None:
    """Why the pipeline builds without a model (None: a model writes what templates declare)."""
    from worker.ai import ai_off_reason

    mode = settings.ai_builds
    if mode == "off":
        return "TITAN_AI_BUILDS=off"
    if mode == "auto" and not settings.ai_url:
        return ("no AI endpoint is configured (TITAN_AI_URL); TITAN_AI_BUILDS=on also uses "
                "the local model")
    return ai_off_reason(settings)


def model_needed(template: Template, settings: Settings) -> None:
    """Refuse a project of a template that needs a model (``needs_model = True``, e.g.
    ai/python-app) when the pipeline would not ask one: InvalidInput saying how to turn AI on."""
    if not getattr(template, "needs_model", False):
        return
    off = ai_builds_off(settings)
    if off is not None:
        raise InvalidInput("templateRef", needs_model_reason(template, off))


def plannable(registry: TemplateRegistry, settings: Settings) -> TemplateRegistry:
    """The templates a planner may offer: not those that need a model while AI builds are off
    (the project would be refused at creation)."""
    off = ai_builds_off(settings)
    if off is None:
        return registry
    return registry.without([t.ref for t in registry.all() if getattr(t, "needs_model", False)])


def needs_model_reason(template: Template, off: str) -> str:
    return (f"template {template.ref} needs a model to write the project, and AI builds are "
            f"off: {off}. Turn them on: set TITAN_AI_URL and TITAN_AI_MODEL, or "
            f"TITAN_AI_BUILDS=on with the local model (pip install -e \".[ai-local]\")")


def record_path(ctx: StepContext) -> Path:
    return ctx.settings.projects_dir / ".ai-builds" / f"{ctx.project.slug}.json"


@dataclass
class Job:
    """Who the work is for: the ledger rows and the rounds carry these."""

    db: Database | None
    project_id: int | None
    job_id: int | None


def render_text(text: str, values: dict[str, Any]) -> str:
    from jinja2 import ChainableUndefined, Environment

    # A value the spec leaves out renders empty (``persona.name`` of a site without a persona).
    return Environment(undefined=ChainableUndefined, keep_trailing_newline=True
                       ).from_string(text).render(**values)


async def run_declared_work(template: Template, ctx: StepContext, job: Job, *,
                            replay: bool) -> str | None:
    """Do (or, on a replay, re-apply) the template's AI work after its scaffold.

    Returns a one-line summary for the log, or None when there was nothing to do. Raises
    PermanentError with the stated reason when the work fails (round limit, token budget, the
    endpoint): the pipeline then ends the project ``failed``.
    """
    if not template.ai:
        return None
    (ctx.workdir / MARKER).unlink(missing_ok=True)
    if replay:
        return await _reapply(ctx, job, needs_model=getattr(template, "needs_model", False))
    stale = record_path(ctx)  # a record of an earlier run no longer holds
    if stale.is_file():  # (an unusable OUTPUT_DIR is the deploy's to report, not this step's)
        stale.unlink()
    off = ai_builds_off(ctx.settings)
    if off is not None:
        if getattr(template, "needs_model", False):
            raise PermanentError(needs_model_reason(template, off))
        return None
    values = template.ai_context(ctx)
    if values is None:
        return None
    from worker.ai import open_client

    record: dict[str, Any] = {"template": template.ref, "files": {}, "rounds": 0, "tokens": 0}
    try:
        async with open_client(ctx.settings, job.db) as client:
            if "content" in template.ai:
                await _content(client, template.ai["content"], values, ctx, job, record)
                # The code's texts may use what the content said (ai/python-app's file plan).
                values = template.ai_context(ctx) or values
            if "code" in template.ai:
                await _code(client, template.ai["code"], values, ctx, job, record)
            record["model"] = client.endpoint.model
    except AIError as exc:
        raise PermanentError(f"the model could not write the project: {exc}") from None
    _save(ctx, record)
    return str(record["summary"])


def _save(ctx: StepContext, record: dict[str, Any]) -> None:
    text = json.dumps(record, indent=2)
    for path in (record_path(ctx), ctx.workdir / MARKER):
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)


def save_record(ctx: StepContext, record: dict[str, Any]) -> None:
    """Write the kept record (and the work folder's marker) again: a person's edit of the
    model's copy (worker.services.copy) goes here so a replayed scaffold keeps it."""
    _save(ctx, record)


async def _reapply(ctx: StepContext, job: Job, *, needs_model: bool = False) -> str | None:
    """Write what the model wrote when the scaffold first ran (never ask it again)."""
    path = record_path(ctx)
    if not path.is_file():
        if needs_model or await _model_wrote(job):
            raise PermanentError(
                f"a model wrote part of this project on another worker, and what it wrote is "
                f"not here ({path}); workers that share a project need a shared OUTPUT_DIR")
        return None  # that scaffold ran without a model
    record = json.loads(path.read_text(encoding="utf-8"))
    for rel, text in record["files"].items():
        target = ctx.workdir / rel
        if text is None:
            target.unlink(missing_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    _save(ctx, record)
    ctx.log(f"wrote again what the model wrote when the scaffold first ran "
            f"({len(record['files'])} files; the model was not asked again)")
    return f"reused the model's {len(record['files'])} files"


async def _model_wrote(job: Job) -> bool:
    if job.db is None or job.project_id is None:
        return False
    from worker.services.ai_calls import list_calls

    calls = await list_calls(job.db, project_id=job.project_id, limit=500)
    return any(call.purpose.split(" ")[0] in (CODE_PURPOSE, CONTENT_PURPOSE) for call in calls)


# -- content --------------------------------------------------------------------------------------


# llama.cpp turns a schema into a grammar and gives up on long length limits ("number of rules
# that are going to be repeated ... exceeds sane defaults"): the local model gets the schema
# without them; the answer is still validated against the whole schema.
_GRAMMAR_UNFRIENDLY = ("maxLength", "minLength", "maxItems", "minItems", "pattern")


def grammar_friendly(schema: Any) -> Any:
    """The schema without length and pattern limits (property names are kept whatever they are)."""
    if isinstance(schema, list):
        return [grammar_friendly(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _GRAMMAR_UNFRIENDLY:
            continue
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {name: grammar_friendly(sub) for name, sub in value.items()}
        else:
            out[key] = grammar_friendly(value)
    return out


async def _content(client: Any, declared: dict[str, Any], values: dict[str, Any],
                   ctx: StepContext, job: Job, record: dict[str, Any]) -> None:
    from worker.ai.client import repair_prompt
    from worker.templates import first_schema_error

    schema = declared["schema"]
    local = client.endpoint.local
    response_format = ({"type": "json_object", "schema": grammar_friendly(schema)} if local else
                       {"type": "json_schema", "json_schema": {"name": "Content",
                                                                "schema": schema}})
    task = render_text(declared["task"], values)
    messages: list[dict[str, str]] = [
        {"role": "system", "content": "You write a project's copy. Answer with one JSON object "
                                      "that matches this JSON Schema:\n" + json.dumps(schema)},
        {"role": "user", "content": task}]
    ctx.log("the model writes the content")
    problem = ""
    for attempt in (1, 2):
        try:
            completion = await client.chat(
                messages, purpose=CONTENT_PURPOSE if attempt == 1 else f"{CONTENT_PURPOSE} "
                "(repair)", project_id=job.project_id, job_id=job.job_id,
                max_tokens=declared.get("max_tokens", 2048), temperature=0.4,
                response_format=response_format)
        except BudgetExceeded as exc:
            raise PermanentError(f"the token budget is spent before the content was written "
                                 f"({exc})") from None
        try:
            answer = json.loads(completion.text)
        except ValueError as exc:
            problem = f"the answer is not JSON: {exc}"
        else:
            error = first_schema_error(schema, answer, root="answer")
            if error is None:
                break
            problem = f"{error[0]}: {error[1]}"
        messages = [*messages, {"role": "assistant", "content": completion.text},
                    {"role": "user", "content": repair_prompt(problem)}]
        ctx.log(f"the content does not match its schema ({problem}); asking once more")
    else:
        raise AIInvalidAnswer(f"the content does not match the template's schema even after a "
                              f"repair request: {problem}")
    rel = render_text(declared["file"], values)
    text = json.dumps(answer, indent=2, ensure_ascii=False)
    target = ctx.workdir / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    record["files"][rel] = text
    record["summary"] = f"the model wrote the content ({rel})"
    ctx.log(record["summary"])


# -- code -----------------------------------------------------------------------------------------


def check_argv(argv: list[str]) -> list[str]:
    """The declared check; ``python`` is Titan's interpreter (its pytest, in the sandbox)."""
    return [sys.executable if a == "python" and i == 0 else a for i, a in enumerate(argv)]


async def _code(client: Any, declared: dict[str, Any], values: dict[str, Any],
                ctx: StepContext, job: Job, record: dict[str, Any]) -> None:
    from worker.ai.repair import RepairTask, run_repair

    workspace_rel = render_text(declared["workspace"], values)
    workspace = ctx.workdir / workspace_rel
    argv = check_argv([render_text(a, values) for a in declared["check"]["argv"]])
    task = RepairTask(
        workspace=workspace, task=render_text(declared["task"], values), check=argv,
        files=[render_text(f, values) for f in declared["files"]],
        project_id=job.project_id, job_id=job.job_id, purpose=CODE_PURPOSE,
        check_timeout_seconds=float(declared["check"].get("timeout_seconds", 600)),
        instructions=render_text(declared.get("instructions", ""), values),
        protected=tuple(declared.get("protected", ())),
        env=QUIET_PYTEST)
    result = await run_repair(client, ctx.settings, task, db=job.db, on_progress=ctx.log)
    record["rounds"] = len(result.rounds)
    record["tokens"] = record.get("tokens", 0) + result.tokens
    if not result.passed:
        raise PermanentError(f"the model's code did not pass its check: {result.reason}")
    changed = sorted({path for r in result.rounds for path in r.changed})
    for path in changed:
        file = workspace / path
        rel = (Path(workspace_rel) / path).as_posix()
        record["files"][rel] = file.read_text(encoding="utf-8") if file.is_file() else None
    record["summary"] = (f"the model wrote {len(changed)} files; {result.reason}")
    ctx.log(record["summary"])
