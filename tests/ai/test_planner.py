"""``titan project create NAME --describe TEXT``: the AI planner, run as a user would.

The endpoint is the SCRIPTED OpenAI-compatible server of tests/ai/scripted.py (real HTTP on
loopback, answers from a script), because these cases need answers on demand: a valid plan, an
unknown template, a spec that breaks the template's schema. The last test uses the real local
model (SmolLM2) and asserts only protocol and guardrails, never the plan's quality.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.ai.conftest import child_env
from tests.ai.scripted import Answer, ScriptedAI
from tests.conftest import titan
from worker.templates import TemplateRegistry

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
    assert schema["properties"]["template"]["enum"] == refs  # a grammar can hold a model to it
    assert "bakery site" in prompt and request.body["response_format"]["type"] == "json_schema"

    planned = titan(env, "project", "plan", "bakery", "--json")
    assert planned.returncode == 0, planned.stderr
    assert goals_tree(json.loads(planned.stdout)) == expected_tree()

    worker = titan(env, "worker", "--exit-when-idle", timeout=300)
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


@pytest.mark.slow
def test_the_local_model_plans_or_fails_in_one_line(llama_server: object,
                                                    titan_env: dict) -> None:
    """The real SmolLM2 (served by the child itself): a created project whose spec passes its
    template's schema, or one clear line and nothing written; the plan's quality is not judged."""
    env = child_env(titan_env)
    result = titan(env, "project", "create", "Bakery", "--describe", DESCRIPTION, "--yes",
                   "--json", timeout=900)
    calls = json.loads(titan(env, "ai", "calls", "--json").stdout)
    assert calls and all(c["purpose"] in ("plan", "plan (repair)") for c in calls)
    if result.returncode == 0:
        project = json.loads(result.stdout)
        template = TemplateRegistry.from_settings(_settings()).get(project["templateRef"])
        assert template.validate_spec(project["spec"]) == project["spec"]
        plan = json.loads(titan(env, "project", "plan", "bakery", "--json").stdout)
        goals = [g for f in plan for m in f["children"] for g in m["children"]]
        assert goals and all(g["step"] for g in goals)
    else:
        assert result.returncode == 1, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        nothing_written(env)
