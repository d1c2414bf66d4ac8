"""The AI client's guardrails against a SCRIPTED OpenAI-compatible server on loopback.

The server (tests/ai/scripted.py) is real HTTP but answers from a script, because these cases
need answers a tiny local model would not give on demand: invalid JSON, rate limits, stalls,
wrong keys, unknown models. The assertions are about protocol, schemas, the ledger and the
guardrails, never about content.
"""

from __future__ import annotations

import asyncio
import json
import socket
from decimal import Decimal

import pytest
from pydantic import BaseModel, Field, SecretStr, ValidationError

from tests.ai.scripted import Answer, Call, ScriptedAI, Stall, Status
from worker.ai import (
    AIAuthError,
    AIClient,
    AIInvalidAnswer,
    AIModelNotFound,
    AIRequestFailed,
    AITimeout,
    AIUnreachable,
    BudgetExceeded,
    Endpoint,
)
from worker.db.engine import Database
from worker.db.models import Project
from worker.services.ai_calls import list_calls

HELLO = [{"role": "user", "content": "hello"}]


class Page(BaseModel):
    title: str = Field(max_length=40)
    sections: list[str]


def client_for(server: ScriptedAI, db: Database, *, key: str | None = None,
               model: str = "scripted", **options: object) -> AIClient:
    options = {"retry_base_seconds": 0.01, **options}
    return AIClient(Endpoint(server.url, model, SecretStr(key) if key else None), db=db,
                    **options)  # type: ignore[arg-type]


async def new_project(db: Database) -> int:
    async with db.session() as session:
        project = Project(name="Budgeted", slug="budgeted", template_ref="persona/basic")
        session.add(project)
        await session.flush()
        return project.id


async def test_streams_pieces_in_order_and_records_the_servers_usage(db: Database) -> None:
    deltas: list[str] = []
    with ScriptedAI() as server:
        server.then(Answer(["Hel", "lo ", "there"], prompt_tokens=17, completion_tokens=3))
        async with client_for(server, db, price_in=Decimal("2"), price_out=Decimal("10")) as ai:
            done = await ai.chat(HELLO, purpose="greeting", on_delta=deltas.append)
    assert deltas == ["Hel", "lo ", "there"]
    assert done.text == "Hello there"
    sent = server.requests[0].body
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    [row] = await list_calls(db)
    assert (row.purpose, row.model, row.error) == ("greeting", "scripted", None)
    assert (row.prompt_tokens, row.completion_tokens) == (17, 3)
    assert row.endpoint == server.url
    assert row.time_to_first_token_ms is not None and row.total_ms >= row.time_to_first_token_ms
    assert row.cost == (Decimal(17) * 2 + Decimal(3) * 10) / Decimal(1_000_000)


async def test_tools_are_offered_and_streamed_tool_calls_come_back_whole(db: Database) -> None:
    tool = {"type": "function", "function": {
        "name": "cancel_project", "description": "cancel a project",
        "parameters": {"type": "object", "properties": {"project": {"type": "string"}},
                       "required": ["project"]}}}
    deltas: list[str] = []
    with ScriptedAI() as server:
        server.then(Answer(["Sure. "], calls=[
            Call("cancel_project", {"project": "Moon Garden"}, piece=5),
            Call("show_tab", {"tab": "logs"})]))
        async with client_for(server, db) as ai:
            done = await ai.chat(HELLO, purpose="jason", tools=[tool], on_delta=deltas.append)
            server.then(Answer(["no tools"]))
            plain = await ai.chat(HELLO, purpose="plain")
    assert server.requests[0].tools == [tool] and server.requests[1].tools == []
    assert "tools" not in server.requests[1].body  # a call without tools sends none
    assert [(c.name, json.loads(c.arguments)) for c in done.tool_calls] == [
        ("cancel_project", {"project": "Moon Garden"}), ("show_tab", {"tab": "logs"})]
    assert [c.id for c in done.tool_calls] == ["call_scripted_0", "call_scripted_1"]
    assert done.finish_reason == "tool_calls" and done.text == "Sure. " and deltas == ["Sure. "]
    assert plain.tool_calls == () and plain.text == "no tools"
    rows = await list_calls(db)
    assert [(r.purpose, r.error) for r in rows] == [("plain", None), ("jason", None)]


async def test_no_price_configured_means_no_cost(db: Database) -> None:
    with ScriptedAI() as server:
        server.then(Answer(["ok"]))
        async with client_for(server, db) as ai:
            await ai.chat(HELLO, purpose="p")
    [row] = await list_calls(db)
    assert row.cost is None


async def test_structured_answer_is_requested_with_the_models_json_schema(db: Database) -> None:
    good = {"title": "Menu", "sections": ["Bread", "Cakes"]}
    with ScriptedAI() as server:
        server.then(Answer([json.dumps(good)[:10], json.dumps(good)[10:]]))
        async with client_for(server, db) as ai:
            page = await ai.ask_structured(HELLO, Page, purpose="plan")
    assert page == Page(**good)
    fmt = server.requests[0].body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["schema"] == Page.model_json_schema()
    [row] = await list_calls(db)
    assert row.error is None


async def test_invalid_answer_gets_one_repair_request_quoting_the_error(db: Database) -> None:
    bad = json.dumps({"title": "Menu"})  # sections missing
    with pytest.raises(ValidationError) as expected:
        Page.model_validate_json(bad)
    [problem] = expected.value.errors()
    with ScriptedAI() as server:
        server.then(Answer([bad]), Answer([json.dumps({"title": "Menu", "sections": []})]))
        async with client_for(server, db) as ai:
            page = await ai.ask_structured(HELLO, Page, purpose="plan")
    assert page.sections == []
    assert len(server.requests) == 2
    repair = server.requests[1].body["messages"]
    assert repair[:-2] == HELLO
    assert repair[-2] == {"role": "assistant", "content": bad}
    assert repair[-1]["role"] == "user"
    assert "sections" in repair[-1]["content"] and problem["msg"] in repair[-1]["content"]
    assert server.requests[1].body["response_format"] == server.requests[0].body[
        "response_format"]
    second, first = await list_calls(db)
    assert first.purpose == "plan" and first.error.startswith("invalid answer: sections")
    assert second.purpose == "plan (repair)" and second.error is None


async def test_garbage_twice_is_a_clear_one_line_failure(db: Database) -> None:
    with ScriptedAI() as server:
        server.then(Answer(["I think the menu is lovely"]), Answer(["{not json"]))
        async with client_for(server, db) as ai:
            with pytest.raises(AIInvalidAnswer) as failure:
                await ai.ask_structured(HELLO, Page, purpose="plan")
    message = str(failure.value)
    assert "\n" not in message and "Page" in message and "repair" in message
    assert len(server.requests) == 2  # one repair, not more
    rows = await list_calls(db)
    assert [r.purpose for r in rows] == ["plan (repair)", "plan"]
    assert all(r.error.startswith("invalid answer:") for r in rows)


async def test_429_is_retried_after_the_servers_retry_after(db: Database) -> None:
    with ScriptedAI() as server:
        server.then(Status(429, "slow down", {"Retry-After": "0.3"}), Answer(["fine"]))
        async with client_for(server, db) as ai:
            done = await ai.chat(HELLO, purpose="p")
    assert done.text == "fine"
    first, second = server.requests
    assert second.at - first.at >= 0.3
    [row] = await list_calls(db)
    assert row.error is None


async def test_5xx_is_retried_then_fails_clearly(db: Database) -> None:
    with ScriptedAI() as server:
        server.then(*[Status(503, "overloaded")] * 3)
        async with client_for(server, db, max_retries=2) as ai:
            with pytest.raises(AIRequestFailed) as failure:
                await ai.chat(HELLO, purpose="p")
    assert len(server.requests) == 3
    assert "HTTP 503 after 2 retries" in str(failure.value)
    [row] = await list_calls(db)
    assert row.error == str(failure.value)


async def test_a_silent_server_times_out(db: Database) -> None:
    with ScriptedAI() as server:
        server.then(Stall())
        async with client_for(server, db, timeout_seconds=0.5) as ai:
            with pytest.raises(AITimeout) as failure:
                await ai.chat(HELLO, purpose="p")
    assert "did not answer within 0.5 s" in str(failure.value)
    assert len(server.requests) == 1
    [row] = await list_calls(db)
    assert row.error == str(failure.value)


async def test_budget_stops_before_the_call_with_a_stated_reason(db: Database) -> None:
    project_id = await new_project(db)
    with ScriptedAI() as server:
        server.then(Answer(["a", "b"], prompt_tokens=60, completion_tokens=40), Answer(["c"]))
        async with client_for(server, db, max_tokens_per_project=100) as ai:
            await ai.chat(HELLO, purpose="draft", project_id=project_id)
            with pytest.raises(BudgetExceeded) as stop:
                await ai.chat(HELLO, purpose="draft", project_id=project_id)
            # Another project, or a call for no project, is not held back by it.
            await ai.chat(HELLO, purpose="other")
    assert len(server.requests) == 2
    assert "100 of its 100 AI tokens" in str(stop.value)
    assert "TITAN_AI_MAX_TOKENS_PER_PROJECT" in str(stop.value)
    rows = await list_calls(db, project_id=project_id)
    assert [r.error is None for r in rows] == [False, True]
    assert rows[0].error.startswith("budget exceeded") and rows[0].completion_tokens == 0


async def test_unreachable_endpoint(db: Database) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    async with AIClient(Endpoint(url, "m"), db=db) as ai:
        with pytest.raises(AIUnreachable) as failure:
            await ai.chat(HELLO, purpose="p")
    message = str(failure.value)
    assert "\n" not in message and url in message and "TITAN_AI_URL" in message
    [row] = await list_calls(db)
    assert row.error == message and row.endpoint == url


async def test_wrong_key_is_refused_and_never_recorded(db: Database) -> None:
    key = "sk-wrong-0123456789"
    with ScriptedAI(key="sk-right") as server:
        async with client_for(server, db, key=key) as ai:
            with pytest.raises(AIAuthError) as failure:
                await ai.chat(HELLO, purpose="p")
    assert server.requests[0].headers["authorization"] == f"Bearer {key}"
    assert "TITAN_AI_KEY" in str(failure.value) and key not in str(failure.value)
    [row] = await list_calls(db)
    assert row.error == str(failure.value)
    assert key not in json.dumps({c.name: str(getattr(row, c.name)) for c in row.__table__.columns})


async def test_key_in_the_url_is_not_recorded(db: Database) -> None:
    with ScriptedAI() as server:
        server.then(Answer(["ok"]))
        url = server.url.replace("http://", "http://user:hunter22@")
        async with AIClient(Endpoint(url, "scripted"), db=db) as ai:
            await ai.chat(HELLO, purpose="p")
    [row] = await list_calls(db)
    assert "hunter22" not in row.endpoint and row.endpoint == server.url


async def test_unknown_model(db: Database) -> None:
    with ScriptedAI(models=("llama3",)) as server:
        async with client_for(server, db, model="llama9") as ai:
            with pytest.raises(AIModelNotFound) as failure:
                await ai.chat(HELLO, purpose="p")
    assert "'llama9'" in str(failure.value) and "TITAN_AI_MODEL" in str(failure.value)
    assert len(server.requests) == 1  # a 404 is not retried
    [row] = await list_calls(db)
    assert row.error == str(failure.value)


async def test_cancelling_mid_stream_hangs_up_and_records_cancelled(db: Database) -> None:
    arrived: list[str] = []
    first = asyncio.Event()

    def on_delta(text: str) -> None:
        arrived.append(text)
        first.set()

    with ScriptedAI() as server:
        server.then(Answer(["word "] * 400, delay=0.02))
        async with client_for(server, db) as ai:
            task = asyncio.create_task(ai.chat(HELLO, purpose="story", on_delta=on_delta))
            await first.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # The server notices the closed connection on its next write.
            assert await asyncio.to_thread(server.disconnected.wait, 10)
    assert len(arrived) < 400
    [row] = await list_calls(db)
    assert row.error == "cancelled" and row.purpose == "story"
    assert row.completion_tokens is not None and row.completion_tokens >= 1


async def test_the_local_model_gets_the_schema_in_llama_cpp_pythons_dialect(db: Database
                                                                           ) -> None:
    with ScriptedAI() as server:
        server.then(Answer([json.dumps({"title": "Menu", "sections": []})]))
        async with AIClient(Endpoint(server.url, "scripted", local=True), db=db) as ai:
            await ai.ask_structured(HELLO, Page, purpose="plan")
    assert server.requests[0].body["response_format"] == {
        "type": "json_object", "schema": Page.model_json_schema()}
