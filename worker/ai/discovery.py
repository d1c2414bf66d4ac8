"""Which model is in use, a local Ollama's models, and a short connection test (no database).

The desktop's AI settings use these (``titan_desktop/ai_settings.py``); they hold no Qt and
touch no database, so the same code can serve the CLI:

- ``in_use(settings)``: the configured endpoint, else the local draft model, else "AI off"
  with how to turn it on: as a status-bar label, a tooltip and a sentence;
- ``ollama_models(base)``: the models an Ollama server has pulled (``GET /api/tags``, its
  documented API), falling back to the OpenAI-compatible ``GET /v1/models`` that LM Studio,
  llama.cpp and vLLM serve too;
- ``probe(endpoint)``: one short streamed chat through ``AIClient`` (the probe ``titan ai
  status`` sends), reported as answered with tokens/s, or the client's one-line error
  (unreachable, wrong key, unknown model, ...). The key is never part of any text here.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from worker.ai.cli import PROBE, PROBE_MAX_TOKENS
from worker.ai.client import AIClient
from worker.ai.endpoint import Endpoint, safe_url
from worker.ai.errors import AIConfigError, AIError, AIRequestFailed, AIUnreachable
from worker.ai.local import INSTALL_HINT
from worker.config import Settings

OLLAMA_BASE = "http://127.0.0.1:11434"
OLLAMA_PORT = 11434
LOCAL_MODEL_LABEL = "local draft model"
DRAFTS_NOTE = ("The built-in model (SmolLM2-135M, on this machine) is tiny: it writes rough "
               "drafts only. For real work connect Ollama (free, runs here: ollama.com, then "
               "`ollama pull llama3.2`) or a hosted model (OpenAI, OpenRouter, ...).")
TURN_ON_CONNECT = ("Turn AI on: pick an Ollama model in File → Settings → AI (or enter any "
                   "OpenAI-compatible URL and model, e.g. http://127.0.0.1:11434/v1)")
TURN_ON_HINT = f"{TURN_ON_CONNECT}, or install the local draft model: {INSTALL_HINT}."
TURN_ON_LOCAL = f"{TURN_ON_CONNECT}, or switch TITAN_AI_LOCAL on for the local draft model."
LOCAL_SWITCHED_OFF = "no URL is set and the local draft model is switched off (TITAN_AI_LOCAL)"


# -- which model is in use ---------------------------------------------------------------------

@dataclass(frozen=True)
class AIInUse:
    """What Titan will use with these settings (nothing is started or called to find out)."""

    kind: Literal["configured", "local", "off", "misconfigured"]
    model: str | None = None
    url: str | None = None  # safe_url: no user info, no query
    reason: str | None = None  # off / misconfigured: why, in one line

    @property
    def where(self) -> str:
        """Where the model runs, briefly: "ollama", "api.openai.com", "127.0.0.1:8080"."""
        return describe_host(self.url) if self.url else ""

    @property
    def label(self) -> str:
        """The status bar's few words."""
        if self.kind == "configured":
            return f"AI: {short_model(self.model or '?')} @ {self.where}"
        if self.kind == "local":
            return f"AI: {LOCAL_MODEL_LABEL}"
        if self.kind == "misconfigured":
            return "AI: not set up right"
        return "AI off"

    @property
    def sentence(self) -> str:
        """One or two sentences for the settings page."""
        if self.kind == "configured":
            return f"In use: model {self.model} at {self.url}."
        if self.kind == "local":
            return ("In use: the local draft model (SmolLM2-135M), served on this machine "
                    "when it is needed. Nothing is configured (TITAN_AI_URL is empty).")
        return f"AI is off: {self.reason}."

    @property
    def tooltip(self) -> str:
        if self.kind == "configured":
            return (f"Titan's AI uses {self.model} at {self.url}. "
                    "Change it in File → Settings → AI.")
        if self.kind == "local":
            return (f"Titan's AI uses the local draft model, served on this machine when it is "
                    f"needed. {DRAFTS_NOTE} Set it up in File → Settings → AI.")
        if self.kind == "misconfigured":
            return f"{self.reason}. Fix it in File → Settings → AI."
        return (f"AI is off: {self.reason}. Projects are made from templates only. "
                f"{self.turn_on}")

    @property
    def turn_on(self) -> str:
        """How to turn AI on, when it is off."""
        return TURN_ON_LOCAL if self.reason == LOCAL_SWITCHED_OFF else TURN_ON_HINT


def in_use(settings: Settings) -> AIInUse:
    """The configured endpoint, else the local model when installed, else off."""
    from worker.ai import ai_off_reason
    from worker.ai.endpoint import configured_endpoint

    try:
        endpoint = configured_endpoint(settings)
    except AIConfigError as exc:
        return AIInUse("misconfigured", url=safe_url(settings.ai_url or ""), reason=exc.message)
    if endpoint is not None:
        return AIInUse("configured", model=endpoint.model, url=endpoint.safe_url)
    reason = ai_off_reason(settings)
    if reason is None:
        return AIInUse("local", model="smollm2-135m-instruct")
    if not settings.ai_local:
        return AIInUse("off", reason=LOCAL_SWITCHED_OFF)
    return AIInUse("off", reason="no model is configured and the local draft model is not "
                                 "installed")


def short_model(model: str) -> str:
    """``llama3.2:latest`` → ``llama3.2``; a hosted ``openai/gpt-4o-mini`` stays as it is."""
    return model.removesuffix(":latest")


def describe_host(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or url
    if parts.port == OLLAMA_PORT:
        return "ollama" if _is_loopback(host) else f"ollama on {host}"
    if parts.port and _is_loopback(host):
        return f"{host}:{parts.port}"
    return host


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- a local Ollama's models -------------------------------------------------------------------

@dataclass(frozen=True)
class OllamaModel:
    name: str  # what TITAN_AI_MODEL takes: "llama3.2:latest"
    parameters: str | None = None  # "3.2B"
    quantization: str | None = None  # "Q4_K_M"
    size_bytes: int | None = None

    @property
    def label(self) -> str:
        extra = [part for part in (self.parameters, self.quantization) if part]
        if self.size_bytes:
            extra.append(f"{self.size_bytes / 1e9:.1f} GB")
        return f"{self.name} ({', '.join(extra)})" if extra else self.name


def ollama_base(url: str) -> str:
    """The server's root: ``http://127.0.0.1:11434/v1/`` → ``http://127.0.0.1:11434``."""
    base = url.strip().rstrip("/")
    return base.removesuffix("/v1")


def v1_url(base: str) -> str:
    """The OpenAI-compatible URL TITAN_AI_URL takes for an Ollama at ``base``."""
    return ollama_base(base) + "/v1"


async def ollama_models(base: str = OLLAMA_BASE, *, timeout: float = 3.0) -> list[OllamaModel]:
    """The models the server at ``base`` offers, by name.

    Raises ``AIUnreachable`` when nothing answers there and ``AIRequestFailed`` when what
    answers speaks neither Ollama's API nor the OpenAI-compatible model list.
    """
    root = ollama_base(base)
    where = safe_url(root)
    try:
        async with httpx.AsyncClient(timeout=timeout) as http:
            tags = await http.get(f"{root}/api/tags")
            if tags.status_code == 200:
                return _tag_models(tags.json())
            listed = await http.get(f"{root}/v1/models")
            if listed.status_code == 200:
                return _v1_models(listed.json())
            raise AIRequestFailed(f"{where} lists no models (HTTP {tags.status_code} for "
                                  f"/api/tags, {listed.status_code} for /v1/models)")
    except httpx.TimeoutException:
        raise AIUnreachable(f"nothing answered at {where} within {timeout:g} s") from None
    except httpx.TransportError as exc:
        raise AIUnreachable(f"no server at {where} ({_reason(exc)})") from None
    except (ValueError, KeyError, TypeError):
        raise AIRequestFailed(f"{where} answered, but not with a model list") from None


def _tag_models(data: Any) -> list[OllamaModel]:
    models = []
    for item in data["models"]:
        details = item.get("details") or {}
        models.append(OllamaModel(
            name=str(item.get("name") or item["model"]),
            parameters=details.get("parameter_size") or None,
            quantization=details.get("quantization_level") or None,
            size_bytes=item.get("size") if isinstance(item.get("size"), int) else None))
    return sorted(models, key=lambda m: m.name)


def _v1_models(data: Any) -> list[OllamaModel]:
    return sorted((OllamaModel(name=str(item["id"])) for item in data["data"]),
                  key=lambda m: m.name)


def _reason(exc: Exception) -> str:
    """Why a connection failed, in a few words (httpx hides the OS error in the cause chain)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return "unknown host"
        seen = seen.__cause__ or seen.__context__
    return " ".join(str(exc).split())[:120] or type(exc).__name__


# -- a short connection test -------------------------------------------------------------------

@dataclass(frozen=True)
class ProbeResult:
    url: str  # safe_url
    model: str
    answered: bool
    error: str | None = None
    time_to_first_token_ms: float | None = None
    tokens_per_second: float | None = None
    completion_tokens: int | None = None
    local: bool = False

    @property
    def summary(self) -> str:
        """One line for the dialog: answered with speed, or the error."""
        if not self.answered:
            return f"No answer: {self.error}"
        speed = (f"{self.tokens_per_second:.0f} tokens/s" if self.tokens_per_second is not None
                 else "speed unknown")
        first = (f", first token after {self.time_to_first_token_ms:.0f} ms"
                 if self.time_to_first_token_ms is not None else "")
        return f"Answered: {self.model} at {self.url}, {speed}{first}."


async def probe(endpoint: Endpoint, *, timeout_seconds: float = 30.0) -> ProbeResult:
    """One short chat with ``endpoint``; never raises ``AIError``, returns what happened."""
    client = AIClient(endpoint, db=None, timeout_seconds=timeout_seconds, max_retries=0)
    try:
        done = await client.chat(PROBE, purpose="connection test", max_tokens=PROBE_MAX_TOKENS,
                                 temperature=0)
    except AIError as exc:
        return ProbeResult(endpoint.safe_url, endpoint.model, False, error=str(exc),
                           local=endpoint.local)
    finally:
        await client.close()
    if not done.text.strip():
        return ProbeResult(endpoint.safe_url, endpoint.model, False, local=endpoint.local,
                           error=f"{endpoint.model} at {endpoint.safe_url} sent an empty answer")
    return ProbeResult(endpoint.safe_url, endpoint.model, True, local=endpoint.local,
                       time_to_first_token_ms=done.time_to_first_token_ms,
                       tokens_per_second=done.tokens_per_second,
                       completion_tokens=done.completion_tokens)


async def probe_local(*, timeout_seconds: float = 120.0) -> ProbeResult:
    """Start the local draft model on loopback, probe it, stop it."""
    from worker.ai.local import LOCAL_MODEL, LocalServer

    server = LocalServer()
    try:
        endpoint = await server.start(timeout=timeout_seconds)
    except AIError as exc:
        return ProbeResult("the local model", LOCAL_MODEL, False, error=str(exc), local=True)
    try:
        return await probe(endpoint, timeout_seconds=timeout_seconds)
    finally:
        await server.stop()
