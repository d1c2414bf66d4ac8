"""``titan ai status`` and ``titan ai calls``, run as a user would (child processes).

The endpoint is the SCRIPTED OpenAI-compatible server of tests/ai/scripted.py (real HTTP on
loopback, answers from a script).
"""

from __future__ import annotations

import json
import socket

from tests.ai.conftest import child_env
from tests.ai.scripted import Answer, ScriptedAI
from tests.conftest import titan
from worker.db.engine import Database
from worker.services.ai_calls import CallRecord, record


def test_status_probes_the_endpoint_and_records_the_probe(titan_env: dict) -> None:
    with ScriptedAI(key="sk-secret-key-42") as server:
        server.then(Answer([f"{n} " for n in range(1, 31)], prompt_tokens=20))
        env = child_env(titan_env, TITAN_AI_URL=server.url, TITAN_AI_MODEL="scripted",
                        TITAN_AI_KEY="sk-secret-key-42")
        status = titan(env, "ai", "status", "--json")
        calls = titan(env, "ai", "calls", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["enabled"] and report["answers"] and not report["local"]
    assert (report["endpoint"], report["model"]) == (server.url, "scripted")
    assert report["completionTokens"] == 30 and report["tokensPerSecond"] > 0
    assert server.requests[0].body["max_tokens"] > 0
    [row] = json.loads(calls.stdout)
    assert (row["purpose"], row["promptTokens"], row["completionTokens"], row["error"]) == (
        "status probe", 20, 30, None)
    assert "sk-secret-key-42" not in status.stdout + status.stderr + calls.stdout


def test_status_of_an_unreachable_endpoint_says_why(titan_env: dict) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    env = child_env(titan_env, TITAN_AI_URL=url, TITAN_AI_MODEL="m")
    result = titan(env, "ai", "status")
    assert result.returncode == 1
    assert f"endpoint: {url}" in result.stdout
    assert "answers:  no; AI endpoint" in result.stdout and "unreachable" in result.stdout


def test_status_with_a_url_but_no_model_is_a_usage_error(titan_env: dict) -> None:
    env = child_env(titan_env, TITAN_AI_URL="http://127.0.0.1:9/v1")
    result = titan(env, "ai", "status")
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert "TITAN_AI_MODEL" in line


def test_status_with_ai_off_says_how_to_turn_it_on(titan_env: dict) -> None:
    env = child_env(titan_env, TITAN_AI_LOCAL="0")
    result = titan(env, "ai", "status", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert not report["enabled"] and not report["answers"]
    assert "AI is off" in report["error"] and "TITAN_AI_URL" in report["error"]


def test_jason_llm_names_still_configure_the_endpoint(titan_env: dict) -> None:
    with ScriptedAI(models=("llama3",)) as server:
        server.then(Answer(["1 2 3"]))
        env = child_env(titan_env, JASON_LLM_URL=server.url, JASON_LLM_MODEL="llama3")
        result = titan(env, "ai", "status", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["model"] == "llama3"


def test_calls_for_an_unknown_project_is_one_line_and_exit_1(titan_env: dict) -> None:
    result = titan(child_env(titan_env), "ai", "calls", "--project", "no-such-thing")
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert "no-such-thing" in line


async def test_calls_lists_a_projects_calls_only(titan_env: dict, db: Database) -> None:
    env = child_env(titan_env)
    created = titan(env, "project", "create", "Bakery", "--json")
    assert created.returncode == 0, created.stderr
    project_id = json.loads(created.stdout)["id"]
    empty = titan(env, "ai", "calls", "--project", "bakery")
    assert empty.returncode == 0 and empty.stdout.strip() == "no AI calls yet"
    for purpose, project in (("plan", project_id), ("status probe", None)):
        await record(db, CallRecord(purpose=purpose, model="m", endpoint="http://h/v1",
                                    project_id=project, prompt_tokens=5, completion_tokens=7))
    listed = json.loads(titan(env, "ai", "calls", "--project", "bakery", "--json").stdout)
    assert [(c["purpose"], c["projectId"]) for c in listed] == [("plan", project_id)]
    every = titan(env, "ai", "calls")
    assert [line.split()[4] for line in every.stdout.strip().splitlines()] == ["status", "plan"]
