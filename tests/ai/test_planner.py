"""``titan project create NAME --describe TEXT``: the AI planner, run as a user would.

The endpoint is the SCRIPTED OpenAI-compatible server of tests/ai/scripted.py (real HTTP on
loopback, answers from a script), because these cases need answers on demand: a valid plan, an
unknown template, a spec that breaks the template's schema. The schema tests check what a model
is sent: a JSON Schema that llama.cpp's own converter turns into a grammar (it silently falls
back to "any JSON" when it cannot) and that bounds every string and list, so a tiny model that
loops still ends its answer. The local model end to end: tests/ai/test_done_when.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.ai.conftest import child_env
from tests.ai.scripted import Answer, ScriptedAI
from tests.conftest import titan
from worker.ai.planner import EXAMPLES, answer_schema, plan_model, spec_schema
from worker.templates import Template, TemplateRegistry

DESCRIPTION = "A small bakery site: the menu and how to order a cake."
FEATURES = [
    {"title": "Menu", "milestones": [
        {"title": "Write the menu page", "goals": [
            {"title": "Draft the menu page", "step": "scaffold"},
            {"title": "Check the menu links", "step": "build"}]},
        {"title": "Put the menu online", "goals": [
            {"title": "Serve the menu", "step": "deploy"},
            {"title": "See the menu answer", "step": "verify"}]}]},
    {"title": "Cake orders", "milestones": [
        {"title": "Release", "goals": [{"title": "Publish the site", "step": "publish"}]}]},
]


def plan_answer(template: str = "persona/basic", spec: Any = None) -> Answer:
    spec = {"description": "Fresh bread daily.", "features": ["Menu", "Cake orders"]} \
        if spec is None else spec
    text = json.dumps({"template": template, "spec": spec, "features": FEATURES})
    return Answer([text[i:i + 40] for i in range(0, len(text), 40)])


def scripted_env(titan_env: dict, server: ScriptedAI) -> dict:
    return child_env(titan_env, TITAN_AI_URL=server.url, TITAN_AI_MODEL="scripted")


def goals_tree(nodes: list[dict]) -> list[dict]:
    """The answer's shape (titles, kinds, steps) of a stored plan tree."""
    return [{"kind": n["kind"], "title": n["title"], "step": n["step"],
             "children": goals_tree(n["children"])} for n in nodes]


def expected_tree() -> list[dict]:
    return [{"kind": "feature", "title": f["title"], "step": None, "children": [
        {"kind": "milestone", "title": m["title"], "step": None, "children": [
            {"kind": "goal", "title": g["title"], "step": g["step"], "children": []}
            for g in m["goals"]]} for m in f["milestones"]]} for f in FEATURES]


def nothing_written(env: dict) -> None:
    listed = titan(env, "project", "list", "--json")
    assert json.loads(listed.stdout) == []


def test_a_described_project_is_planned_created_and_published(titan_env: dict) -> None:
    with ScriptedAI() as server:
        server.then(plan_answer())
        env = scripted_env(titan_env, server)
        created = titan(env, "project", "create", "Bakery", "--describe", DESCRIPTION,
                        "--yes", "--json")
    assert created.returncode == 0, created.stderr
    project = json.loads(created.stdout)
    assert project["templateRef"] == "persona/basic"
    assert project["spec"]["features"] == ["Menu", "Cake orders"]
    # The model saw every installed template and the description.
    [request] = server.requests
    prompt = json.dumps(request.body["messages"])
    refs = TemplateRegistry.from_settings(_settings()).refs()
    for ref in refs:
        assert ref in prompt
    schema = request.body["response_format"]["json_schema"]["schema"]
    # One branch per template (a grammar then holds a model to a real template and its spec).
    assert [b["properties"]["template"]["const"] for b in schema["anyOf"]] == refs
    assert request.body["temperature"] == 0
    assert "bakery site" in prompt and request.body["response_format"]["type"] == "json_schema"

    planned = titan(env, "project", "plan", "bakery", "--json")
    assert planned.returncode == 0, planned.stderr
    assert goals_tree(json.loads(planned.stdout)) == expected_tree()

    # The scripted server is gone: the site builds from the template alone (AI builds are
    # tests/templates/test_ai_templates.py's subject).
    worker = titan({**env, "TITAN_AI_BUILDS": "off"}, "worker", "--exit-when-idle", timeout=300)
    assert worker.returncode == 0, worker.stdout[-2000:] + worker.stderr[-2000:]
    shown = json.loads(titan(env, "project", "show", "bakery", "--json").stdout)
    assert shown["status"] == "published" and shown["progress"] == 1.0
    after = json.loads(titan(env, "project", "plan", "bakery", "--json").stdout)
    goals = [g for f in after for m in f["children"] for g in m["children"]]
    assert goals and all(g["done"] for g in goals)
    human = titan(env, "project", "plan", "bakery")
    assert "[x] Publish the site  (publish)" in human.stdout

    calls = json.loads(titan(env, "ai", "calls", "--json").stdout)
    assert [(c["purpose"], c["error"]) for c in calls] == [("plan", None)]


def _settings() -> Any:
    from worker.config import get_settings

    return get_settings()


def test_without_yes_and_without_a_tty_it_prints_the_plan_and_creates_nothing(
        titan_env: dict) -> None:
    with ScriptedAI() as server:
        server.then(plan_answer(), plan_answer())
        env = scripted_env(titan_env, server)
        shown = titan(env, "project", "create", "Bakery", "--describe", DESCRIPTION)
        as_json = titan(env, "project", "create", "Bakery", "--describe", DESCRIPTION, "--json")
    assert shown.returncode == 0, shown.stderr
    assert "template: persona/basic" in shown.stdout and "[ ] Publish the site" in shown.stdout
    assert "--yes" in shown.stderr and "not created" in shown.stderr
    proposal = json.loads(as_json.stdout)
    assert proposal["created"] is False and proposal["template"] == "persona/basic"
    assert goals_tree(proposal["plan"]) == expected_tree()
    nothing_written(env)


def test_an_unknown_template_gets_one_repair_quoting_the_error(titan_env: dict) -> None:
    with ScriptedAI() as server:
        server.then(plan_answer(template="react/spa"), plan_answer())
        env = scripted_env(titan_env, server)
        created = titan(env, "project", "create", "Bakery", "--describe", DESCRIPTION,
                        "--yes", "--json")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["templateRef"] == "persona/basic"
    repair = server.requests[1].body["messages"][-1]["content"]
    assert "unknown template 'react/spa'" in repair and "persona/basic" in repair
    calls = json.loads(titan(env, "ai", "calls", "--json").stdout)
    assert [c["purpose"] for c in calls] == ["plan (repair)", "plan"]
    assert calls[0]["error"] is None and "react/spa" in calls[1]["error"]


def test_a_spec_that_breaks_the_schema_twice_fails_cleanly(titan_env: dict) -> None:
    bad = {"features": ["   "], "colour": "red"}
    with ScriptedAI() as server:
        server.then(plan_answer(spec=bad), plan_answer(spec=bad))
        env = scripted_env(titan_env, server)
        failed = titan(env, "project", "create", "Bakery", "--describe", DESCRIPTION, "--yes")
    assert failed.returncode == 1
    assert failed.stdout == ""
    [line] = failed.stderr.strip().splitlines()
    assert "repair" in line and "spec" in line
    repair = server.requests[1].body["messages"][-1]["content"]
    assert "spec does not fit template persona/basic" in repair
    nothing_written(env)
    calls = json.loads(titan(env, "ai", "calls", "--json").stdout)
    assert [c["purpose"] for c in calls] == ["plan (repair)", "plan"]
    assert all("invalid answer" in c["error"] for c in calls)


def test_with_ai_off_describe_is_a_usage_error_that_writes_nothing(titan_env: dict) -> None:
    env = child_env(titan_env, TITAN_AI_LOCAL="0")
    result = titan(env, "project", "create", "Bakery", "--describe", DESCRIPTION, "--yes")
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert "AI is off" in line and "TITAN_AI_URL" in line
    nothing_written(env)
    assert json.loads(titan(env, "ai", "calls", "--json").stdout) == []


def test_describe_with_a_template_is_a_usage_error(titan_env: dict) -> None:
    result = titan(child_env(titan_env), "project", "create", "Bakery", "--describe", "x",
                   "--template", "persona/basic")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "--template" in line


def _installed() -> TemplateRegistry:
    return TemplateRegistry.from_settings(_settings())


def _unbounded(schema: Any, where: str = "") -> list[str]:
    """Places in a schema where a grammar lets a model go on for ever."""
    found: list[str] = []
    if isinstance(schema, list):
        for i, item in enumerate(schema):
            found += _unbounded(item, f"{where}[{i}]")
        return found
    if not isinstance(schema, dict):
        return found
    kind = schema.get("type")
    pattern = schema.get("pattern", "")
    if kind == "string" and "maxLength" not in schema and not (
            pattern.startswith("^") and pattern.endswith("$")):
        found.append(f"{where}: a string without maxLength")
    if kind == "array" and "maxItems" not in schema:
        found.append(f"{where}: a list without maxItems")
    if kind == "object" and "anyOf" not in schema and schema.get(
            "additionalProperties") is not False:
        found.append(f"{where}: an object open to any property")
    if kind is None and not {"enum", "const", "anyOf"} & schema.keys():
        found.append(f"{where}: no type")
    for key in ("properties",):
        for name, sub in (schema.get(key) or {}).items():
            found += _unbounded(sub, f"{where}.{name}")
    for key in ("items", "anyOf"):
        if key in schema:
            found += _unbounded(schema[key], f"{where}.{key}")
    return found


def test_the_schema_sent_bounds_every_string_and_list() -> None:
    schema = answer_schema(_installed())
    assert _unbounded(schema) == []


def test_the_schema_sent_becomes_a_grammar_not_any_json() -> None:
    """llama-cpp-python's server turns the schema into a grammar and, when its converter
    raises (an unanchored pattern such as the persona template's ``\\S``), silently uses a
    grammar for any JSON instead: the tiny model then writes whatever it likes."""
    grammar = pytest.importorskip("llama_cpp.llama_grammar", reason="the ai-local extra")
    rules = grammar.json_schema_to_gbnf(json.dumps(answer_schema(_installed())))
    for ref in _installed().refs():
        assert json.dumps(json.dumps(ref)) in rules  # each template is a literal of the grammar


def test_a_template_spec_schema_is_cut_down_to_what_a_grammar_can_bound() -> None:
    grammar = pytest.importorskip("llama_cpp.llama_grammar", reason="the ai-local extra")
    template = Template()
    template.spec_schema = {"type": "object", "required": ["owner"], "properties": {
        "description": {"type": "string", "maxLength": 5000},
        "features": {"type": "array", "items": {"type": "string", "pattern": "\\S"}},
        "owner": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"}, "bio": {"type": "string"}}},
        "colour": {"type": "string", "default": "red"}}}
    cut = spec_schema(template)
    assert cut["required"] == ["description", "features", "owner"]  # colour: its default
    assert cut["properties"]["owner"]["required"] == ["name"]
    assert "pattern" not in cut["properties"]["features"]["items"]
    assert _unbounded(cut) == []
    grammar.json_schema_to_gbnf(json.dumps(cut))  # raises on anything it cannot convert


def test_the_worked_examples_in_the_prompt_are_valid_answers() -> None:
    registry = _installed()
    model = plan_model(registry)
    for ref, (_, _, answer) in EXAMPLES.items():
        assert model.model_validate(answer).template == ref


def test_a_capable_model_may_plan_bigger_than_the_local_one() -> None:
    """The local model's plan is held small (it loops wherever it may); Ollama or a hosted model
    may plan a five-page site as five features, and is still bounded."""
    from worker.ai.planner import ROOMY, SMALL

    registry = _installed()
    feature = FEATURES[0]
    five = {"template": "persona/basic",
            "spec": {"description": "Fresh bread daily.",
                     "features": ["Menu", "Hours", "Cakes", "Catering", "Contact"]},
            "features": [{**feature, "title": f"Page {n}"} for n in range(1, 6)]}
    assert len(plan_model(registry, ROOMY).model_validate(five).nodes()) == 5
    with pytest.raises(ValueError, match="features"):
        plan_model(registry, SMALL).model_validate(five)
    too_many = {**five, "features": five["features"] * 2}  # 10 > ROOMY's 8
    with pytest.raises(ValueError, match="features"):
        plan_model(registry, ROOMY).model_validate(too_many)
    assert _unbounded(answer_schema(registry, ROOMY)) == []


def test_a_template_that_needs_a_model_is_not_offered_while_ai_builds_are_off(
        titan_env: dict) -> None:
    """ai/python-app needs a model to write the project; with AI builds off the planner must
    not choose it (the project would be refused at creation)."""
    with ScriptedAI() as server:
        server.then(plan_answer())
        env = {**scripted_env(titan_env, server), "TITAN_AI_BUILDS": "off"}
        created = titan(env, "project", "create", "Bakery", "--describe", DESCRIPTION,
                        "--yes", "--json")
    assert created.returncode == 0, created.stderr
    [request] = server.requests
    schema = request.body["response_format"]["json_schema"]["schema"]
    offered = [b["properties"]["template"]["const"] for b in schema["anyOf"]]
    assert "ai/python-app" not in offered and "persona/basic" in offered
    assert "ai/python-app" not in json.dumps(request.body["messages"])
