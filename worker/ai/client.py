"""One client for OpenAI-compatible chat-completions APIs (Ollama, llama.cpp, vLLM, hosted).

Every call streams (so the time to first token is known and callers may show text as it
arrives), retries 429 and 5xx with exponential backoff (honouring Retry-After), turns every
failure into one clear line (``AIError``), and leaves one row in the ``ai_calls`` ledger,
success or failure. Cancelling the calling task closes the HTTP response, which stops the
server's generation, and records the call as "cancelled".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from openai import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AsyncOpenAI,
    Timeout,
)
from pydantic import BaseModel, ValidationError

from worker.ai.endpoint import Endpoint
from worker.ai.errors import (
    AIAuthError,
    AIError,
    AIInvalidAnswer,
    AIModelNotFound,
    AIRequestFailed,
    AITimeout,
    AIUnreachable,
    BudgetExceeded,
)
from worker.config import Settings
from worker.db.engine import Database
from worker.retry import RetryPolicy
from worker.services import ai_calls

Message = Mapping[str, Any]
OnDelta = Callable[[str], None]
T = TypeVar("T", bound=BaseModel)

RETRY_AFTER_MAX_SECONDS = 30.0
CANCELLED = "cancelled"


@dataclass(frozen=True)
class ToolCall:
    """A function the model asked for (OpenAI tools): ``arguments`` is its JSON text as sent,
    unchecked; the caller validates it."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    time_to_first_token_ms: float | None
    total_ms: float
    finish_reason: str | None
    # The functions the model called when it was offered ``tools`` (streamed deltas assembled).
    tool_calls: tuple[ToolCall, ...] = ()

    @property
    def tokens_per_second(self) -> float | None:
        """Generation speed: completion tokens over the time after the first one arrived."""
        if not self.completion_tokens or self.time_to_first_token_ms is None:
            return None
        generating = (self.total_ms - self.time_to_first_token_ms) / 1000
        return self.completion_tokens / generating if generating > 0 else None


class _Invalid(Exception):
    """The answer arrived but failed validation (message: a one-line summary)."""


class AIClient:
    """Calls one endpoint; every call is recorded in the ledger when a database is given."""

    def __init__(self, endpoint: Endpoint, *, db: Database | None = None,
                 timeout_seconds: float = 120.0, max_retries: int = 3,
                 retry_base_seconds: float = 0.5, price_in: Decimal | None = None,
                 price_out: Decimal | None = None,
                 max_tokens_per_project: int | None = None) -> None:
        self.endpoint = endpoint
        self.db = db
        self.timeout_seconds = timeout_seconds
        self.max_retries = max_retries
        self.backoff = RetryPolicy(base_seconds=retry_base_seconds, max_seconds=8.0)
        self.price_in = price_in
        self.price_out = price_out
        self.max_tokens_per_project = max_tokens_per_project
        # Ledger row ids this client wrote, in order: a caller that plans before its project
        # exists (the planner) hands them to ProjectService.create, which files them under it.
        self.recorded_ids: list[int] = []
        key = endpoint.key.get_secret_value() if endpoint.key else ""
        self._key = key
        # Retries are ours (only 429 and 5xx, recorded once); the key is sent, never logged.
        self._openai = AsyncOpenAI(
            base_url=endpoint.url, api_key=key or "no-key", max_retries=0,
            timeout=Timeout(timeout_seconds, connect=min(timeout_seconds, 10.0)))

    @classmethod
    def from_settings(cls, settings: Settings, endpoint: Endpoint,
                      db: Database | None = None) -> AIClient:
        return cls(endpoint, db=db, timeout_seconds=settings.ai_timeout_seconds,
                   max_retries=settings.ai_max_retries,
                   retry_base_seconds=settings.ai_retry_base_seconds,
                   price_in=settings.ai_price_per_mtok_in,
                   price_out=settings.ai_price_per_mtok_out,
                   max_tokens_per_project=settings.ai_max_tokens_per_project)

    async def close(self) -> None:
        await self._openai.close()

    async def __aenter__(self) -> AIClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- public calls ---------------------------------------------------------------------------

    async def chat(self, messages: Sequence[Message], *, purpose: str,
                   project_id: int | None = None, job_id: int | None = None,
                   on_delta: OnDelta | None = None, max_tokens: int | None = None,
                   temperature: float | None = None,
                   response_format: dict[str, Any] | None = None,
                   tools: Sequence[Mapping[str, Any]] | None = None) -> Completion:
        """One streamed chat completion; ``on_delta`` gets each piece of text as it arrives.
        ``tools``: OpenAI function tools the model may call (``Completion.tool_calls``)."""
        completion, _ = await self._call(
            messages, purpose=purpose, project_id=project_id, job_id=job_id, on_delta=on_delta,
            max_tokens=max_tokens, temperature=temperature, response_format=response_format,
            tools=tools)
        return completion

    async def ask_structured(self, messages: Sequence[Message], model: type[T], *,
                             purpose: str, project_id: int | None = None,
                             job_id: int | None = None, on_delta: OnDelta | None = None,
                             max_tokens: int | None = None,
                             temperature: float | None = None) -> T:
        """An answer that validates against ``model``: requested with its JSON Schema, checked
        with pydantic, repaired once (quoting the validation error), else ``AIInvalidAnswer``."""
        response_format = json_schema_format(model, local=self.endpoint.local)

        def parse(text: str) -> T:
            try:
                return model.model_validate_json(text)
            except ValidationError as exc:
                raise _Invalid(validation_summary(exc)) from None

        kwargs: dict[str, Any] = dict(project_id=project_id, job_id=job_id, on_delta=on_delta,
                                      max_tokens=max_tokens, temperature=temperature,
                                      response_format=response_format)
        completion, answer = await self._call(messages, purpose=purpose, parse=parse, **kwargs)
        if not isinstance(answer, _Invalid):
            return answer
        repair = [*messages, {"role": "assistant", "content": completion.text},
                  {"role": "user", "content": repair_prompt(str(answer))}]
        completion, answer = await self._call(repair, purpose=f"{purpose} (repair)",
                                              parse=parse, **kwargs)
        if not isinstance(answer, _Invalid):
            return answer
        raise AIInvalidAnswer(f"the model's answer for {purpose} does not match "
                              f"{model.__name__} even after a repair request: {answer}")

    # -- the one code path ----------------------------------------------------------------------

    async def _call(self, messages: Sequence[Message], *, purpose: str, project_id: int | None,
                    job_id: int | None, on_delta: OnDelta | None, max_tokens: int | None,
                    temperature: float | None, response_format: dict[str, Any] | None,
                    parse: Callable[[str], Any] | None = None,
                    tools: Sequence[Mapping[str, Any]] | None = None) -> tuple[Completion, Any]:
        record = _Recorder(self, purpose=purpose, project_id=project_id, job_id=job_id)
        await self._check_budget(record)
        options: dict[str, Any] = {}
        if max_tokens is not None:
            options["max_tokens"] = max_tokens
        if temperature is not None:
            options["temperature"] = temperature
        if response_format is not None:
            options["response_format"] = response_format
        if tools:
            options["tools"] = [dict(tool) for tool in tools]
        try:
            completion = await self._stream(list(messages), options, record, on_delta)
        except asyncio.CancelledError:
            await record.write(CANCELLED)
            raise
        except AIError as exc:
            await record.write(str(exc))
            raise
        if parse is None:
            await record.write(None)
            return completion, None
        try:
            answer = parse(completion.text)
        except _Invalid as exc:
            await record.write(f"invalid answer: {exc}")
            return completion, exc
        await record.write(None)
        return completion, answer

    async def _check_budget(self, record: _Recorder) -> None:
        limit = self.max_tokens_per_project
        if limit is None or record.project_id is None or self.db is None:
            return
        used = await ai_calls.tokens_used(self.db, record.project_id)
        if used >= limit:
            reason = (f"project {record.project_id} has used {used:,} of its {limit:,} AI tokens "
                      f"(TITAN_AI_MAX_TOKENS_PER_PROJECT); no call was made")
            await record.write(f"budget exceeded: {reason}", made=False)
            raise BudgetExceeded(reason)

    async def _stream(self, messages: list[Any], options: dict[str, Any], record: _Recorder,
                      on_delta: OnDelta | None) -> Completion:
        stream = await self._open(messages, options)
        pieces: list[str] = []
        calls: dict[int, dict[str, str]] = {}  # tool calls by index, from their deltas
        finish_reason = None
        chunks = 0
        try:
            async for chunk in stream:
                if chunk.usage is not None:
                    record.prompt_tokens = chunk.usage.prompt_tokens
                    record.completion_tokens = chunk.usage.completion_tokens
                for choice in chunk.choices:
                    finish_reason = choice.finish_reason or finish_reason
                    text = choice.delta.content if choice.delta else None
                    parts = (choice.delta.tool_calls if choice.delta else None) or []
                    _add_tool_deltas(calls, parts)
                    if not text and not parts:
                        continue
                    if record.first_token_at is None:
                        record.first_token_at = time.monotonic()
                    chunks += 1
                    record.streamed_chunks = chunks
                    if not text:
                        continue  # a tool call's piece: a token, but no text to show
                    pieces.append(text)
                    if on_delta is not None:
                        on_delta(text)
        # openai wraps transport errors mid-stream; older releases let httpx's through.
        except (APITimeoutError, httpx.TimeoutException):
            raise AITimeout(self._timeout_message()) from None
        except (APIConnectionError, httpx.TransportError) as exc:
            raise AIUnreachable(f"AI endpoint {self.endpoint.safe_url} dropped the answer: "
                                f"{self._clean(str(exc) or type(exc).__name__)}") from None
        except APIError as exc:  # an error event inside the stream
            raise AIRequestFailed(f"AI endpoint {self.endpoint.safe_url} failed mid-answer: "
                                  f"{self._clean(exc.message)}") from None
        finally:
            # Closing the response is what tells the server to stop generating.
            await stream.close()
        if record.completion_tokens is None and chunks:
            record.completion_tokens = chunks  # no usage sent: llama.cpp streams a token a chunk
        return Completion(
            text="".join(pieces), model=self.endpoint.model,
            prompt_tokens=record.prompt_tokens, completion_tokens=record.completion_tokens,
            time_to_first_token_ms=record.ttft_ms(), total_ms=record.elapsed_ms(),
            finish_reason=finish_reason,
            tool_calls=tuple(ToolCall(c["id"], c["name"], c["arguments"])
                             for _, c in sorted(calls.items())))

    async def _open(self, messages: list[Any], options: dict[str, Any]) -> Any:
        attempt = 0
        while True:
            try:
                return await self._openai.chat.completions.create(
                    model=self.endpoint.model, messages=messages, stream=True,
                    stream_options={"include_usage": True}, **options)
            except APITimeoutError:
                raise AITimeout(self._timeout_message()) from None
            except APIConnectionError as exc:
                cause = exc.__cause__ or exc
                raise AIUnreachable(
                    f"AI endpoint {self.endpoint.safe_url} is unreachable "
                    f"({self._clean(str(cause) or type(cause).__name__)}); "
                    f"check TITAN_AI_URL") from None
            except APIStatusError as exc:
                status = exc.status_code
                if (status == 429 or status >= 500) and attempt < self.max_retries:
                    attempt += 1
                    retry_after = exc.response.headers.get("retry-after")
                    await asyncio.sleep(self._delay(attempt, retry_after))
                    continue
                raise self._status_error(exc, attempt) from None

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        # Only the header: openai's response class is httpx's or httpx2's, by openai version.
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), RETRY_AFTER_MAX_SECONDS)
            except ValueError:
                pass  # an HTTP date: fall back to our own backoff
        return self.backoff.delay(attempt)

    def _status_error(self, exc: APIStatusError, retries: int) -> AIError:
        where = f"AI endpoint {self.endpoint.safe_url}"
        status = exc.status_code
        detail = self._clean(exc.message)
        if status in (401, 403):
            return AIAuthError(f"{where} refused the key (HTTP {status}); check TITAN_AI_KEY")
        if status == 404:
            return AIModelNotFound(
                f"{where} has no model {self.endpoint.model!r} or is not an OpenAI-compatible "
                f"/v1 URL (HTTP 404); check TITAN_AI_MODEL and TITAN_AI_URL")
        if status == 429 or status >= 500:
            return AIRequestFailed(f"{where} failed with HTTP {status} after {retries} "
                                   f"retr{'y' if retries == 1 else 'ies'}: {detail}")
        return AIRequestFailed(f"{where} rejected the request (HTTP {status}): {detail}")

    def _timeout_message(self) -> str:
        return (f"AI endpoint {self.endpoint.safe_url} did not answer within "
                f"{self.timeout_seconds:g} s (TITAN_AI_TIMEOUT_SECONDS)")

    def _clean(self, text: str) -> str:
        """One line, short, and never the key (a server may echo it back)."""
        line = " ".join(str(text).split())
        if self._key:
            line = line.replace(self._key, "***")
        return line[:300]


class _Recorder:
    """Collects one call's figures and writes its ledger row exactly once."""

    def __init__(self, client: AIClient, *, purpose: str, project_id: int | None,
                 job_id: int | None) -> None:
        self.client = client
        self.purpose = purpose
        self.project_id = project_id
        self.job_id = job_id
        self.started = time.monotonic()
        self.first_token_at: float | None = None
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.streamed_chunks = 0

    def ttft_ms(self) -> float | None:
        if self.first_token_at is None:
            return None
        return (self.first_token_at - self.started) * 1000

    def elapsed_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000

    async def write(self, error: str | None, *, made: bool = True) -> None:
        client = self.client
        if client.db is None:
            return
        completion = self.completion_tokens
        if completion is None and self.streamed_chunks:
            # No usage from the server (a cancelled stream, or llama-cpp-python's server, which
            # ignores stream_options): count what arrived; llama.cpp streams a token a chunk.
            completion = self.streamed_chunks
        row_id = await ai_calls.record(client.db, ai_calls.CallRecord(
            purpose=self.purpose, model=client.endpoint.model,
            endpoint=client.endpoint.safe_url, project_id=self.project_id, job_id=self.job_id,
            prompt_tokens=self.prompt_tokens if made else 0,
            completion_tokens=completion if made else 0,
            time_to_first_token_ms=self.ttft_ms(),
            total_ms=self.elapsed_ms() if made else 0.0,
            cost=ai_calls.price(self.prompt_tokens, completion, client.price_in,
                                client.price_out),
            error=error))
        client.recorded_ids.append(row_id)


def _add_tool_deltas(calls: dict[int, dict[str, str]], parts: Sequence[Any]) -> None:
    """Assemble streamed tool calls as OpenAI sends them: per ``index``, the first delta has
    the id and the function's name, the following ones pieces of its JSON arguments."""
    for part in parts:
        call = calls.setdefault(part.index or 0, {"id": "", "name": "", "arguments": ""})
        call["id"] = part.id or call["id"]
        function = part.function
        if function is None:
            continue
        if function.name and function.name != call["name"]:  # some servers repeat the name
            call["name"] += function.name
        call["arguments"] += function.arguments or ""


def json_schema_format(model: type[BaseModel], *, local: bool = False) -> dict[str, Any]:
    """``response_format`` asking for JSON that matches the pydantic model's schema.

    llama-cpp-python's server (the local model) takes the schema in its own dialect,
    ``{"type": "json_object", "schema": ...}``, and turns it into a grammar; it rejects
    ``json_schema``.
    """
    schema = model.model_json_schema()
    if local:
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": model.__name__, "schema": schema}}


def validation_summary(exc: ValidationError, limit: int = 5) -> str:
    """A pydantic error as one line: ``field.path: message; ...``."""
    parts = []
    for error in exc.errors()[:limit]:
        where = ".".join(str(p) for p in error["loc"]) or "(the answer)"
        parts.append(f"{where}: {error['msg']}")
    more = len(exc.errors()) - limit
    if more > 0:
        parts.append(f"and {more} more")
    return " ".join("; ".join(parts).split())


def repair_prompt(error: str) -> str:
    return (f"Your answer does not validate against the JSON Schema: {error}. "
            f"Answer again with only the corrected JSON object, nothing else.")
