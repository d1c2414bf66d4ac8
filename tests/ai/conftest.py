"""AI test fixtures: no AI settings leak in from the environment; the real local model server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from worker.ai.local import LocalServer
from worker.config import reload_settings

AI_ENV = ("TITAN_AI_URL", "TITAN_AI_MODEL", "TITAN_AI_KEY", "JASON_LLM_URL", "JASON_LLM_MODEL",
          "TITAN_AI_LOCAL", "TITAN_AI_TIMEOUT_SECONDS", "TITAN_AI_MAX_RETRIES",
          "TITAN_AI_RETRY_BASE_SECONDS", "TITAN_AI_MAX_TOKENS_PER_PROJECT",
          "TITAN_AI_PRICE_PER_MTOK_IN", "TITAN_AI_PRICE_PER_MTOK_OUT", "TITAN_AI_REPAIR_ROUNDS",
          "TITAN_AI_BUILDS")


@pytest.fixture(autouse=True)
def _no_ai_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in AI_ENV:
        monkeypatch.delenv(key, raising=False)
    reload_settings()
    yield
    reload_settings()


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """llama.cpp's own OpenAI-compatible server with SmolLM2-135M, for the whole session.

    Skipped (with the reason) only when the ai-local extra is not installed.
    """
    import asyncio

    from worker.ai.local import local_unavailable_reason

    reason = local_unavailable_reason()
    if reason is not None:
        pytest.skip(f"the ai-local extra is not installed: {reason}")
    server = LocalServer(log_path=tmp_path_factory.mktemp("llama") / "server.log")
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(server.start(timeout=180))
        yield server
    finally:
        loop.run_until_complete(server.stop())
        loop.close()


@pytest.fixture
async def local_client(llama_server: LocalServer, db: object) -> AsyncIterator[object]:
    from worker.ai import AIClient

    client = AIClient(llama_server.endpoint(), db=db, timeout_seconds=120)  # type: ignore[arg-type]
    yield client
    await client.close()


def child_env(titan_env: dict, **ai: str) -> dict:
    """A child process environment with exactly these AI settings."""
    env = {k: v for k, v in titan_env.items() if k not in AI_ENV}
    env.update(ai)
    return {**env, "PATH": os.environ.get("PATH", "")}
