"""Jason's tools request against the real llama.cpp server (SmolLM2-135M), the wire path.

Here rather than in tests/jason_actions because the session's ``llama_server`` fixture lives in
this folder's conftest. Only the protocol and the ledger are asserted, never the quality of
what the tiny model answers (the scripted tests in tests/jason_actions cover the behaviour).
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from worker.ai.local import LocalServer
from worker.config import reload_settings
from worker.db.engine import Database
from worker.jason.brain import SPOKEN_CHARS, Jason
from worker.services.ai_calls import list_calls


async def status_of(db: Database, slug: str) -> str:
    async with db.session() as s:
        return (await s.execute(text("SELECT status FROM projects WHERE slug = :s"),
                                {"s": slug})).scalar_one()


@pytest.mark.slow
async def test_the_real_local_model_takes_jasons_tools_request(
        llama_server: LocalServer, titan_env: dict, db: Database,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """llama.cpp's server accepts the tools; whatever SmolLM2 answers (text or a tool call)
    becomes a reply without a crash, and the call is in the ledger without an error."""
    endpoint = llama_server.endpoint()
    monkeypatch.setenv("TITAN_AI_URL", endpoint.url)
    monkeypatch.setenv("TITAN_AI_MODEL", endpoint.model)
    jason = Jason(db, reload_settings())
    assert (await jason.ask("create project Moon Garden using persona basic")).project_id
    reply = await jason.ask("could you tell me a little about the moon garden build?")
    assert reply.text.strip()
    rows = await list_calls(db)
    assert rows and rows[-1].purpose == "jason" and rows[-1].completion_tokens
    assert all(r.error is None for r in rows if r.purpose.startswith("jason"))
    if reply.command is None:  # the model chatted: what it said, cut short to speak
        assert len(reply.text) <= SPOKEN_CHARS
        assert len(re.split(r"(?<=[.!?])\s+", reply.text)) <= 2
    if reply.awaiting_confirmation:  # a destructive tool or a plan: nothing done before "yes"
        assert await status_of(db, "moon-garden") == "queued"
        assert (await jason.ask("no")).text == "All right, I won't."
