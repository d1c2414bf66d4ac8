"""Jason with tools: what the parser does not take goes to the AI model, offered Jason's commands.

The model is the SCRIPTED OpenAI-compatible server of tests/ai/scripted.py (real HTTP on
loopback, answers and tool calls from a script), because these cases need a model that picks
the right tool on demand; everything else is real: the database, the services, the client and
its ledger. tests/ai/test_jason_local.py sends Jason's tools request to the real llama.cpp
server (SmolLM2).
"""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.ai.scripted import Answer, Call, ScriptedAI
from tests.conftest import titan
from worker.ai import TURN_ON
from worker.config import Settings, reload_settings
from worker.db.engine import Database
from worker.jason.brain import SPOKEN_CHARS, Jason
from worker.jason.commands import COMMANDS
from worker.services.ai_calls import list_calls
from worker.services.logquery import LogFilter, LogService
from worker.services.projects import ProjectService

# The planner's answer the scripted model gives (what a competent model would plan).
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


def plan_answer() -> Answer:
    plan = json.dumps({"template": "persona/basic", "features": FEATURES, "spec": {
        "description": "Fresh bread daily.", "features": ["Menu", "Cake orders"]}})
    return Answer([plan[i:i + 40] for i in range(0, len(plan), 40)])


def with_ai(monkeypatch: pytest.MonkeyPatch, url: str, model: str = "scripted") -> Settings:
    monkeypatch.setenv("TITAN_AI_URL", url)
    monkeypatch.setenv("TITAN_AI_MODEL", model)
    monkeypatch.setenv("TITAN_AI_RETRY_BASE_SECONDS", "0.01")
    return reload_settings()


def calls_to(*calls: Call) -> Answer:
    return Answer([], calls=list(calls))


async def status_of(db: Database, slug: str) -> str:
    async with db.session() as s:
        return (await s.execute(text("SELECT status FROM projects WHERE slug = :s"),
                                {"s": slug})).scalar_one()


async def project_count(db: Database) -> int:
    async with db.session() as s:
        return int((await s.execute(text("SELECT count(*) FROM projects"))).scalar_one())


async def ledger(db: Database) -> list[tuple[str, int | None, str | None]]:
    """(purpose, project id, error) of every AI call, oldest first."""
    return [(r.purpose, r.project_id, r.error) for r in reversed(await list_calls(db))]


async def moon_garden(jason: Jason) -> int:
    """A project made the grammar's way (no model involved)."""
    made = await jason.ask("create project Moon Garden using persona basic")
    assert made.project_id is not None
    return made.project_id


async def test_a_free_form_request_runs_the_same_command_the_grammar_would(
        titan_env: dict, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    async with db.session() as s:
        await s.execute(text("INSERT INTO workers (id, host, pid, version) "
                             "VALUES ('w1', 'server', 1, '0')"))
    with ScriptedAI() as server:
        jason = Jason(db, with_ai(monkeypatch, server.url))
        project_id = await moon_garden(jason)
        server.then(calls_to(Call("pause_worker")),
                    calls_to(Call("status_project", {"project": "Moon Garden"})))
        question = await jason.ask("hold your horses, nothing new should start for a while")
        async with db.session() as s:
            # A change the model chose is read back first: nothing happens before "yes".
            assert (await s.execute(text("SELECT command FROM workers"))).scalar() is None
        paused = await jason.ask("yes")
        asked = await jason.ask("is the thing about the moon garden coming along")
        grammar_status = await jason.ask("status of moon garden")
    assert question.awaiting_confirmation and question.command == "pause_worker"
    assert question.text == "You'd like me to pause the worker. Shall I? Say yes or no."
    assert (paused.command, paused.text) == ("pause_worker", "Paused 1 worker.")
    async with db.session() as s:
        assert (await s.execute(text("SELECT command FROM workers"))).scalar() == "pause"
    assert asked.command == "status_project" and asked.project_id == project_id
    assert asked.text == grammar_status.text == "Moon Garden is at the start, 0% done."

    # The model was offered the command table, generated from the one list.
    [first, second] = server.requests
    offered = {c.name for c in COMMANDS} - {"confirm_yes", "confirm_no"}
    assert set(first.tool_names) == offered | {"plan_project", "explain_project"}
    cancel = next(t["function"] for t in first.tools if t["function"]["name"] == "cancel_project")
    assert cancel["parameters"]["properties"]["project"]["enum"] == ["Moon Garden"]
    assert cancel["parameters"]["required"] == ["project"]
    assert "confirmation" in cancel["description"]
    assert "hold your horses" in first.body["messages"][-1]["content"]
    assert second.tools == first.tools  # the same table each time
    # Every call is in the ledger; the one about a project is filed under it.
    assert await ledger(db) == [("jason", None, None), ("jason", project_id, None)]


async def test_a_destructive_tool_waits_for_yes_like_the_spoken_command(
        titan_env: dict, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    with ScriptedAI() as server:
        jason = Jason(db, with_ai(monkeypatch, server.url))
        project_id = await moon_garden(jason)
        cancel = calls_to(Call("cancel_project", {"project": "moon garden"}))
        server.then(cancel, cancel)
        question = await jason.ask("could you stop the moon garden build?")
        assert question.awaiting_confirmation and question.command == "cancel_project"
        assert question.text == "Are you sure you want to cancel Moon Garden? Say yes or no."
        assert await status_of(db, "moon-garden") == "queued"
        assert (await jason.ask("no")).text == "All right, I won't."
        assert await status_of(db, "moon-garden") == "queued"

        await jason.ask("could you stop the moon garden build?")
        assert await status_of(db, "moon-garden") == "queued"
        done = await jason.ask("yes")
    assert done.text == "Cancelled Moon Garden."
    assert await status_of(db, "moon-garden") == "cancelled"
    assert len(server.requests) == 2  # "no" and "yes" were the grammar's, not the model's
    assert await ledger(db) == [("jason", project_id, None)] * 2


async def test_why_did_it_fail_is_answered_from_the_projects_errors_and_logs(
        titan_env: dict, tmp_path: Any, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("not a folder")
    with ScriptedAI() as server:
        settings = with_ai(monkeypatch, server.url)
        jason = Jason(db, settings)
        made = await jason.ask("create project Sunflower Bakery using persona basic")
        env = {**titan_env, "OUTPUT_DIR": str(blocked / "out"), "TITAN_AI_BUILDS": "off"}
        assert titan(env, "worker", "--exit-when-idle").returncode == 0
        assert await status_of(db, "sunflower-bakery") == "failed"
        answer = ("The deploy step failed because the output folder is a file, not a "
                  "directory. Point OUTPUT_DIR at a folder and say retry. After that the site "
                  "should publish, and I will tell you when it is online.")
        server.then(calls_to(Call("explain_project", {"project": "the bakery"})),
                    Answer([answer[i:i + 30] for i in range(0, len(answer), 30)]))
        newest = (await LogService(db).query(LogFilter(project_id=made.project_id),
                                             limit=1))[0]
        reply = await jason.ask("why did the bakery fail?")
    assert reply.project_id == made.project_id and reply.command == "explain_project"
    # Short to speak; the whole answer is kept for the chat.
    assert reply.text == ("The deploy step failed because the output folder is a file, not a "
                          "directory. Point OUTPUT_DIR at a folder and say retry.")
    assert len(reply.text) <= SPOKEN_CHARS and reply.detail == answer
    # The answering call saw the project's state, its last error and its recent log lines.
    route, answering = server.requests
    assert "explain_project" in route.tool_names and answering.tools == []
    facts = answering.body["messages"][0]["content"]
    assert "Project Sunflower Bakery" in facts and "status failed" in facts
    assert "Last error: deploy failed: NotADirectoryError" in facts
    assert "Job deploy: dead, attempt 3" in facts
    assert " ".join(newest.message.split())[:150] in facts
    assert answering.body["messages"][1]["content"] == "why did the bakery fail?"
    assert await ledger(db) == [("jason", made.project_id, None),
                                ("jason-answer", made.project_id, None)]


async def test_make_me_a_site_plans_asks_then_builds_the_models_plan(
        titan_env: dict, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    said = "make me a site for my bakery with a menu page"
    with ScriptedAI() as server:
        jason = Jason(db, with_ai(monkeypatch, server.url))
        server.then(calls_to(Call("plan_project", {
            "name": "Sunflower Bakery", "description": "a site for my bakery with a menu page"})),
            plan_answer())
        proposal = await jason.ask(said)
        assert proposal.awaiting_confirmation and proposal.command == "plan_project"
        assert proposal.text == ("I'd build Sunflower Bakery with the persona/basic template: "
                                 "2 features (Menu, Cake orders), 5 goals. Shall I build it? "
                                 "Say yes or no.")
        assert proposal.detail is not None and "Publish the site (publish)" in proposal.detail
        assert proposal.chat_text == proposal.text + "\n" + proposal.detail  # the chat shows both
        assert await project_count(db) == 0  # nothing until "yes"
        built = await jason.ask("yes")
    assert built.command == "create_project" and built.project_id is not None
    assert built.text.startswith("Creating Sunflower Bakery with the persona/basic template")
    project = await ProjectService.from_settings(db, reload_settings()).get(built.project_id)
    assert project.spec["features"] == ["Menu", "Cake orders"]
    # The stored plan is the model's, not the template's generic one.
    items = await ProjectService.from_settings(db, reload_settings()).plan(built.project_id)
    def tree(parent: int | None) -> list[Any]:
        return [(i.kind, i.title, i.step, tree(i.id)) for i in items if i.parent_id == parent]

    assert tree(None) == [
        ("feature", f["title"], None, [
            ("milestone", m["title"], None, [("goal", g["title"], g["step"], [])
                                             for g in m["goals"]])
            for m in f["milestones"]])
        for f in FEATURES]
    assert "menu page" in json.dumps(server.requests[1].body["messages"])  # the planner's call
    # Both calls (Jason's and the planner's) are filed under the project they made.
    assert await ledger(db) == [("jason", built.project_id, None),
                                ("plan", built.project_id, None)]


async def test_a_parseable_command_never_reaches_the_model(
        titan_env: dict, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    with ScriptedAI() as server:
        jason = Jason(db, with_ai(monkeypatch, server.url))
        for said in ("create project Moon Garden using persona basic", "status",
                     "how is moon garden doing", "what is failing", "show me the logs",
                     "cancel moon garden", "no", "help"):
            reply = await jason.ask(said)
            assert reply.command is not None, said
    assert server.requests == []
    assert await ledger(db) == []


async def test_with_ai_off_jason_says_what_he_can_do_and_how_to_turn_ai_on(
        titan_env: dict, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TITAN_AI_LOCAL", "0")
    jason = Jason(db, reload_settings())
    reply = await jason.ask("could you stop the moon garden build?")
    assert reply.command is None and reply.action is None
    assert reply.text.startswith("Sorry, I didn't catch that.")
    assert "Say “help” for the list." in reply.text
    assert "AI is off" in reply.text and "TITAN_AI_URL" in reply.text
    assert TURN_ON in reply.text  # and how to install the local model
    assert await ledger(db) == []


async def test_an_unreachable_model_is_a_clear_reply_and_nothing_is_done(
        titan_env: dict, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    jason = Jason(db, with_ai(monkeypatch, url, "llama3"))
    reply = await jason.ask("make me a site for my bakery")
    assert reply.text.startswith("I couldn't ask the AI model, so nothing was done: ")
    assert url in reply.text and "unreachable" in reply.text
    assert reply.command is None and not reply.awaiting_confirmation
    assert await project_count(db) == 0
    [(purpose, project, error)] = await ledger(db)
    assert purpose == "jason" and project is None and error and "unreachable" in error


@pytest.mark.parametrize(("call", "why"), [
    (Call("cancel_project", '{"project": "Moon Gar'), "are not JSON"),
    (Call("cancel_project", {"project": 7}), "must be text"),
    (Call("cancel_project", {}), "without project"),
    (Call("cancel_project", {"project": "Moon Garden", "force": "yes"}), "no parameter 'force'"),
    (Call("show_tab", {"tab": "settings"}), "'settings' is not one of"),
    (Call("delete_everything", {}), "does not have ('delete_everything')"),
    (Call("confirm_yes", {}), "does not have ('confirm_yes')"),
])
async def test_a_garbled_or_unknown_tool_call_is_refused_and_nothing_is_done(
        call: Call, why: str, titan_env: dict, db: Database,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with ScriptedAI() as server:
        jason = Jason(db, with_ai(monkeypatch, server.url))
        await moon_garden(jason)
        server.then(calls_to(call))
        reply = await jason.ask("could you stop the moon garden build?")
        assert reply.text.startswith("I couldn't use the AI model's answer, so nothing was "
                                     "done: ")
        assert why in reply.text
        assert not reply.awaiting_confirmation and reply.action is None
        # Nothing is waiting for a yes, and nothing changed.
        assert (await jason.ask("yes")).text == "There is nothing waiting for a yes or no."
    assert await status_of(db, "moon-garden") == "queued"
    assert len(server.requests) == 1


async def test_a_project_the_model_made_up_is_not_acted_on(
        titan_env: dict, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    with ScriptedAI() as server:
        jason = Jason(db, with_ai(monkeypatch, server.url))
        await moon_garden(jason)
        server.then(calls_to(Call("cancel_project", {"project": "Atlantis"})))
        reply = await jason.ask("could you stop the atlantis build?")
    assert reply.text == "I don't know a project called Atlantis, so nothing was done."
    assert not reply.awaiting_confirmation
    assert await status_of(db, "moon-garden") == "queued"


async def test_a_chatty_model_answer_is_cut_short_to_speak(
        titan_env: dict, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    long_answer = ("I am Jason, Titan's project manager. " * 3 + "x" * 300)
    with ScriptedAI() as server:
        jason = Jason(db, with_ai(monkeypatch, server.url))
        server.then(Answer([long_answer]), Answer([]))
        chat = await jason.ask("who are you, really?")
        empty = await jason.ask("say nothing at all")
    assert chat.text == "I am Jason, Titan's project manager. I am Jason, Titan's project manager."
    assert chat.detail == long_answer.strip() and chat.command is None
    assert chat.chat_text == chat.detail  # the chat shows the whole answer
    assert empty.text == "The AI model gave no answer, so nothing was done."
    # The model was told who it is and what is going on.
    system = server.requests[0].body["messages"][0]["content"]
    assert "You are Jason" in system and "Nothing has happened yet" in system


def test_titan_jason_ask_with_yes_builds_the_plan_the_model_proposed(titan_env: dict) -> None:
    from tests.ai.conftest import child_env

    with ScriptedAI() as server:
        server.then(calls_to(Call("plan_project", {"name": "Sunflower Bakery",
                                                   "description": "bakery with a menu"})),
                    plan_answer())
        env = child_env(titan_env, TITAN_AI_URL=server.url, TITAN_AI_MODEL="scripted")
        asked = titan(env, "jason", "ask", "make me a site for my bakery", "--yes", "--json")
    assert asked.returncode == 0, asked.stderr
    reply = json.loads(asked.stdout)
    assert reply["command"] == "create_project" and reply["projectId"] is not None
    assert "Shall I build it?" in asked.stderr  # the question, answered by --yes
    calls = json.loads(titan(env, "ai", "calls", "--json").stdout)
    assert sorted((c["purpose"], c["projectId"]) for c in calls) == [
        ("jason", reply["projectId"]), ("plan", reply["projectId"])]


def test_post_api_jason_ask_asks_the_model_and_confirms_like_the_chat(titan_env: dict,
                                                                       tmp_path: Any) -> None:
    """``POST /api/jason/ask`` (a real ``titan api`` child): each request stands alone, so a
    destructive tool or a proposed plan is carried out only with ``"confirm": true``."""
    from tests.ai.conftest import child_env
    from tests.api.server import TitanApiProcess

    cancel = calls_to(Call("cancel_project", {"project": "Moon Garden"}))
    with ScriptedAI() as server:
        server.then(cancel, cancel)
        env = {**child_env(titan_env, TITAN_AI_URL=server.url, TITAN_AI_MODEL="scripted"),
               "TITAN_API_TOKEN": "jason-tools-token"}
        assert titan(env, "jason", "ask", "create project Moon Garden using persona basic"
                     ).returncode == 0
        auth = {"Authorization": "Bearer jason-tools-token"}
        with TitanApiProcess(env, log_dir=tmp_path) as api, httpx.Client(
                base_url=api.url, timeout=60, trust_env=False) as client:
            said = {"text": "could you stop the moon garden build?"}
            asked = client.post("/api/jason/ask", json=said, headers=auth).json()
            shown = json.loads(titan(env, "project", "show", "moon-garden", "--json").stdout)
            assert shown["status"] == "queued"
            done = client.post("/api/jason/ask", json={**said, "confirm": True},
                               headers=auth).json()
    assert asked["needsConfirmation"] is True and asked["command"] == "cancel_project"
    assert asked["reply"] == "Are you sure you want to cancel Moon Garden? Say yes or no."
    assert done["reply"] == "Cancelled Moon Garden." and done["needsConfirmation"] is False
    shown = json.loads(titan(env, "project", "show", "moon-garden", "--json").stdout)
    assert shown["status"] == "cancelled"
    assert len(server.requests) == 2
