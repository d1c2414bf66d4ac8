"""Jason's actions change the database exactly as the GUI would (typed text path)."""

from __future__ import annotations

from sqlalchemy import text

from tests.ai.scripted import Answer, ScriptedAI
from tests.conftest import titan
from worker.config import Settings, reload_settings
from worker.db.engine import Database
from worker.jason.brain import Jason


async def _status(db: Database, slug: str) -> str:
    async with db.session() as s:
        return (await s.execute(text("SELECT status FROM projects WHERE slug = :s"),
                                {"s": slug})).scalar_one()


async def test_create_by_chat_then_worker_publishes(titan_env: dict, settings: Settings,
                                                    db: Database) -> None:
    jason = Jason(db, settings)
    reply = await jason.ask("Hey Jason, create project Moon Garden using persona basic please")
    assert reply.command == "create_project" and reply.project_id is not None
    assert "Creating Moon Garden" in reply.text
    assert titan(titan_env, "worker", "--exit-when-idle").returncode == 0
    assert await _status(db, "moon-garden") == "published"
    status = await jason.ask("how is Moon Garden doing")
    assert status.text.startswith("Moon Garden is published at http://127.0.0.1:")
    opened = await jason.ask("open the output of moon garden")
    assert opened.action == {"open": status.text.split(" at ")[1].rstrip(".")}


async def test_natural_create_phrasings_make_the_project_a_user_asked_for(
        settings: Settings, db: Database) -> None:
    jason = Jason(db, settings)
    for said, name, slug in (
            ("create a project called moon garden", "Moon Garden", "moon-garden"),
            ("create a project called sun tower with the persona template", "Sun Tower",
             "sun-tower")):
        reply = await jason.ask(said)
        assert reply.command == "create_project", reply.text
        async with db.session() as s:
            row = (await s.execute(text(
                "SELECT name, template_ref FROM projects WHERE slug = :s"), {"s": slug})).one()
        assert tuple(row) == (name, "persona/basic")


async def test_destructive_commands_wait_for_yes(titan_env: dict, settings: Settings,
                                                 db: Database) -> None:
    jason = Jason(db, settings)
    await jason.ask("create project Moon Garden using persona basic")
    question = await jason.ask("cancel Moon Garden")
    assert question.awaiting_confirmation
    assert question.text == "Are you sure you want to cancel Moon Garden? Say yes or no."
    assert (await jason.ask("no")).text == "All right, I won't."
    assert await _status(db, "moon-garden") == "queued"
    await jason.ask("cancel moon garden")
    done = await jason.ask("yes")
    assert done.text == "Cancelled Moon Garden."
    assert await _status(db, "moon-garden") == "cancelled"
    # a lone "yes" with nothing pending does nothing
    assert (await jason.ask("yes")).text == "There is nothing waiting for a yes or no."


async def test_failures_are_reported_and_retried(titan_env: dict, tmp_path, settings: Settings,
                                                 db: Database) -> None:
    jason = Jason(db, settings)
    blocked = tmp_path / "blocked"
    blocked.write_text("not a folder")
    await jason.ask("create project Broken Site using persona basic")
    env = {**titan_env, "OUTPUT_DIR": str(blocked / "out")}
    assert titan(env, "worker", "--exit-when-idle").returncode == 0

    failing = await jason.ask("what is failing")
    assert failing.text.startswith("Broken Site failed at deploy: deploy failed:")
    last = await jason.ask("read me the last error")
    assert "Broken Site's deploy step" in last.text and "Not a directory" in last.text
    summary = await jason.ask("give me a summary")
    assert "1 project failed" in summary.text

    assert (await jason.ask("retry all failed projects")).awaiting_confirmation
    assert (await jason.ask("yes")).text == "Retrying 1 project: broken-site."
    assert await _status(db, "broken-site") == "queued"


async def test_worker_commands_reach_live_workers(titan_env: dict, settings: Settings,
                                                  db: Database) -> None:
    jason = Jason(db, settings)
    assert (await jason.ask("pause the worker")).text == "No worker is running."
    async with db.session() as s:
        await s.execute(text("INSERT INTO workers (id, host, pid, version) "
                             "VALUES ('w1', 'server', 1, '0')"))
    assert (await jason.ask("pause the worker")).text == "Paused 1 worker."
    async with db.session() as s:
        assert (await s.execute(text("SELECT command FROM workers"))).scalar() == "pause"
    assert (await jason.ask("show me the logs")).action == {"tab": "logs"}


async def test_not_a_command_gets_suggestions_never_an_action(titan_env: dict,
                                                              db: Database,
                                                              monkeypatch) -> None:
    monkeypatch.setenv("TITAN_AI_LOCAL", "0")  # AI off: no model to ask
    jason = Jason(db, reload_settings())
    reply = await jason.ask("what's the weather like in Paris")
    assert reply.command is None and reply.action is None
    assert reply.text.startswith("Sorry, I didn't catch that.")
    assert "AI is off" in reply.text
    sales = await jason.ask("how are sales today")
    assert sales.text.startswith("No sales are recorded yet")
    async with db.session() as s:
        replies = (await s.execute(text(
            "SELECT count(*) FROM projects"))).scalar()
    assert replies == 0


async def test_free_questions_go_to_the_model_named_by_the_old_jason_llm_settings(
        titan_env: dict, db: Database, monkeypatch) -> None:
    """JASON_LLM_URL / JASON_LLM_MODEL still name the model (aliases of TITAN_AI_*); the
    endpoint is the SCRIPTED OpenAI-compatible server of tests/ai/scripted.py."""
    with ScriptedAI(models=("llama3",)) as server:
        server.then(Answer(["Paris ", "is sunny."]))
        monkeypatch.setenv("JASON_LLM_URL", server.url)
        monkeypatch.setenv("JASON_LLM_MODEL", "llama3")
        jason = Jason(db, reload_settings())
        reply = await jason.ask("what's the weather like in Paris")
    assert reply.text == "Paris is sunny."
    [seen] = server.requests
    assert seen.path == "/v1/chat/completions" and seen.body["model"] == "llama3"
    assert "Nothing has happened yet" in seen.body["messages"][0]["content"]
