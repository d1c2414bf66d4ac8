"""The wire path against a real llama.cpp server (llama-cpp-python[server]) with SmolLM2-135M.

The session fixture starts ``python -m llama_cpp.server`` on loopback the way Titan does when
nothing is configured. The model is tiny: these tests check protocol, schemas and the ledger,
never what it writes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, Field

from worker.ai import AIClient
from worker.ai.local import LOCAL_MODEL, LocalServer
from worker.db.engine import Database
from worker.services.ai_calls import list_calls

pytestmark = pytest.mark.slow


class Greeting(BaseModel):
    name: str = Field(max_length=30)
    friendly: bool


async def test_answers_stream_in_pieces(local_client: AIClient, db: Database) -> None:
    pieces: list[str] = []
    done = await local_client.chat([{"role": "user", "content": "Name three fruits."}],
                                   purpose="stream test", max_tokens=24, temperature=0,
                                   on_delta=pieces.append)
    assert len(pieces) > 1
    assert "".join(pieces) == done.text
    assert done.time_to_first_token_ms is not None and done.completion_tokens


async def test_schema_constrained_answer_validates(local_client: AIClient, db: Database) -> None:
    answer = await local_client.ask_structured(
        [{"role": "user", "content": "Greet Ada. Answer in JSON."}], Greeting,
        purpose="schema test", max_tokens=60, temperature=0)
    assert isinstance(answer, Greeting)
    [row] = await list_calls(db)
    assert row.error is None and row.purpose == "schema test"


async def test_ledger_tokens_match_the_servers_usage(local_client: AIClient,
                                                     llama_server: LocalServer,
                                                     db: Database) -> None:
    request: dict[str, Any] = {"model": LOCAL_MODEL, "temperature": 0, "max_tokens": 12,
                               "messages": [{"role": "user", "content": "Say hello."}]}
    done = await local_client.chat(request["messages"], purpose="usage test",
                                   max_tokens=12, temperature=0)
    # The same request, unstreamed, straight to the server: its own usage figures (greedy
    # decoding, so the same tokens).
    async with httpx.AsyncClient(timeout=120) as http:
        usage = (await http.post(f"{llama_server.url}/chat/completions", json=request)
                 ).json()["usage"]
    [row] = await list_calls(db)
    assert row.completion_tokens == usage["completion_tokens"] == done.completion_tokens
    # llama-cpp-python's server sends no usage in a stream (it ignores stream_options), so
    # the prompt's size is unknown rather than guessed; servers that send it are recorded
    # exactly (test_client_scripted).
    assert row.prompt_tokens is None or row.prompt_tokens == usage["prompt_tokens"]


async def test_cancelling_mid_stream_stops_it_and_records_cancelled(
        local_client: AIClient, llama_server: LocalServer, db: Database) -> None:
    pieces: list[str] = []
    enough = asyncio.Event()

    def on_delta(text: str) -> None:
        pieces.append(text)
        if len(pieces) >= 3:
            enough.set()

    task = asyncio.create_task(local_client.chat(
        [{"role": "user", "content": "Write a very long story about a bakery."}],
        purpose="cancel test", max_tokens=2000, on_delta=on_delta))
    await enough.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    count = len(pieces)
    [row] = await list_calls(db)
    assert row.error == "cancelled" and row.completion_tokens == count
    # The server saw the hang-up and stopped generating (it says so in its log) ...
    log = llama_server.log_path
    assert log is not None
    for _ in range(300):
        if "Disconnected from client" in log.read_text(errors="replace"):
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("llama.cpp's server never noticed the cancelled stream")
    # ... and is free for the next call.
    done = await local_client.chat([{"role": "user", "content": "Hi"}], purpose="after",
                                   max_tokens=4)
    assert done.completion_tokens and len(pieces) == count


def test_status_with_nothing_configured_serves_the_local_model(llama_server: LocalServer,
                                                               titan_env: dict) -> None:
    """``titan ai status`` starts its own llama.cpp server on loopback, probes it, stops it."""
    from tests.ai.conftest import child_env
    from tests.conftest import titan

    result = titan(child_env(titan_env), "ai", "status", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["local"] and report["answers"] and report["model"] == LOCAL_MODEL
    assert report["endpoint"].startswith("http://127.0.0.1:")
    assert report["tokensPerSecond"] > 0
    calls = json.loads(titan(child_env(titan_env), "ai", "calls", "--json").stdout)
    assert [c["purpose"] for c in calls] == ["status probe"]
    assert calls[0]["completionTokens"] == report["completionTokens"]


async def test_a_long_lived_process_keeps_one_local_model_running(titan_env: dict) -> None:
    """Jason's chat and the desktop's planner ask with ``keep_local``: the first call starts
    the local model, the next ones reuse it (no start-up wait per line), and it stops with the
    process (here: the atexit hook, called by hand)."""
    import worker.ai as ai
    from worker.config import reload_settings

    settings = reload_settings()
    urls, pids = [], []
    try:
        for _ in range(2):
            async with ai.open_client(settings, keep_local=True) as client:
                done = await client.chat([{"role": "user", "content": "Hi"}], purpose="probe",
                                         max_tokens=4)
                assert done.text is not None
                urls.append(client.endpoint.url)
                assert ai._kept_local is not None and ai._kept_local.process is not None
                pids.append(ai._kept_local.process.pid)
            assert ai._kept_local.process.poll() is None  # still running between calls
        assert urls[0] == urls[1] and pids[0] == pids[1]
    finally:
        process = ai._kept_local.process if ai._kept_local is not None else None
        ai._stop_kept_local()
        if process is not None:
            assert await asyncio.to_thread(process.wait, 30) is not None
        ai._kept_local = None
