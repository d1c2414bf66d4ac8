"""Where the AI lives: a base URL, a model and an optional key."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from worker.ai.errors import AIConfigError
from worker.config import Settings


@dataclass(frozen=True)
class Endpoint:
    url: str
    model: str
    key: SecretStr | None = None
    # True for the small model Titan serves itself (ai-local extra).
    local: bool = False

    @property
    def safe_url(self) -> str:
        """The URL without user info, query or fragment: safe for logs and the ledger."""
        return safe_url(self.url)


def safe_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def configured_endpoint(settings: Settings) -> Endpoint | None:
    """TITAN_AI_URL (or JASON_LLM_URL) with its model, or None when no URL is set."""
    if not settings.ai_url:
        return None
    if not settings.ai_model:
        raise AIConfigError("TITAN_AI_MODEL", "TITAN_AI_URL is set but no model is named")
    return Endpoint(settings.ai_url.rstrip("/"), settings.ai_model, settings.ai_key)
