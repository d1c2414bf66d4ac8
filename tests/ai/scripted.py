"""A SCRIPTED OpenAI-compatible chat-completions server on loopback (real HTTP, no model).

It answers ``POST /v1/chat/completions`` from a script the test writes (answers, HTTP errors,
stalls, slow streams), checks the bearer key and the model name as a hosted API would, and
records every request it gets. Behaviour that needs a competent model (repairs, retries,
timeouts, budgets, error mapping, tool choice) is tested against it; the real llama.cpp server
covers the wire path with a real model.

Tools (function calling): a request's ``tools`` are recorded (``Seen.tools``). An ``Answer``
with ``calls`` streams them as OpenAI does: after any text, each call's first delta carries
``index``, ``id``, ``type`` and the function's ``name`` with empty ``arguments``; the following
deltas carry only ``index`` and a piece of the ``arguments`` JSON text; the last chunk's
``finish_reason`` is ``"tool_calls"``. The script decides the call, not the tools offered: a
test can make the "model" call a tool it was never offered, or send arguments that are no JSON.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Call:
    """A tool call the scripted model makes. ``arguments`` is sent as JSON text, or as given
    when it is a string (so a test can send arguments that are no JSON)."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    piece: int = 12  # the arguments stream in pieces of this many characters

    def argument_pieces(self) -> list[str]:
        text = self.arguments if isinstance(self.arguments, str) else \
            json.dumps(self.arguments)
        return [text[i:i + self.piece] for i in range(0, len(text), self.piece)] or [""]


@dataclass
class Answer:
    """A streamed answer in ``pieces`` (and tool ``calls``), with the usage the server
    reports."""

    pieces: list[str]
    prompt_tokens: int = 11
    completion_tokens: int | None = None  # default: one token a piece (and a call delta)
    delay: float = 0.0  # between pieces: a slow stream for cancellation tests
    calls: list[Call] = field(default_factory=list)


@dataclass
class Status:
    """An HTTP error answer, as OpenAI-compatible servers send them."""

    code: int
    message: str = "scripted error"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Stall:
    """Accept the request and say nothing (until the server stops)."""


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The tools the client offered in this request (none: [])."""
        return list(self.body.get("tools") or [])

    @property
    def tool_names(self) -> list[str]:
        return [tool["function"]["name"] for tool in self.tools]


class ScriptedAI:
    def __init__(self, *, key: str | None = None, models: tuple[str, ...] = ("scripted",)) -> None:
        self.key = key
        self.models = models
        self.script: deque[Answer | Status | Stall] = deque()
        self.requests: list[Seen] = []
        self.disconnected = threading.Event()  # a client hung up mid-stream
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    def then(self, *replies: Answer | Status | Stall) -> ScriptedAI:
        self.script.extend(replies)
        return self

    def __enter__(self) -> ScriptedAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                headers = {k.lower(): v for k, v in self.headers.items()}
                scripted.requests.append(Seen(self.path, headers, body, time.monotonic()))
                if self.path != "/v1/chat/completions":
                    return self._error(Status(404, f"no route {self.path}"))
                if scripted.key is not None and \
                        self.headers.get("Authorization") != f"Bearer {scripted.key}":
                    return self._error(Status(401, "Incorrect API key provided"))
                if body.get("model") not in scripted.models:
                    return self._error(Status(404, f"model {body.get('model')!r} not found"))
                reply = scripted.script.popleft() if scripted.script else Status(500, "no script")
                if isinstance(reply, Status):
                    return self._error(reply)
                if isinstance(reply, Stall):
                    scripted._stop.wait(30)
                    return None
                return self._stream(reply, body)

            def _error(self, status: Status) -> None:
                data = json.dumps({"error": {"message": status.message, "type": "scripted",
                                             "code": status.code}}).encode()
                self.send_response(status.code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in status.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, answer: Answer, body: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                base = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk",
                        "created": int(time.time()), "model": body["model"]}
                try:
                    for index, piece in enumerate(answer.pieces):
                        if index and answer.delay and scripted._stop.wait(answer.delay):
                            return
                        self._event({**base, "choices": [{"index": 0, "delta": {
                            "role": "assistant", "content": piece}, "finish_reason": None}]})
                    deltas = self._tool_deltas(answer.calls, first=not answer.pieces)
                    for delta in deltas:
                        self._event({**base, "choices": [{"index": 0, "delta": delta,
                                                          "finish_reason": None}]})
                    self._event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason":
                                                      "tool_calls" if answer.calls else "stop"}]})
                    if (body.get("stream_options") or {}).get("include_usage"):
                        completion = answer.completion_tokens
                        if completion is None:
                            completion = len(answer.pieces) + len(deltas)
                        self._event({**base, "choices": [], "usage": {
                            "prompt_tokens": answer.prompt_tokens,
                            "completion_tokens": completion,
                            "total_tokens": answer.prompt_tokens + completion}})
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    scripted.disconnected.set()
                self.close_connection = True

            @staticmethod
            def _tool_deltas(calls: list[Call], *, first: bool) -> list[dict[str, Any]]:
                """OpenAI's streamed tool calls: a naming delta, then argument pieces."""
                deltas: list[dict[str, Any]] = []
                for index, call in enumerate(calls):
                    opening: dict[str, Any] = {"content": None, "tool_calls": [{
                        "index": index, "id": f"call_scripted_{index}", "type": "function",
                        "function": {"name": call.name, "arguments": ""}}]}
                    if first and index == 0:
                        opening["role"] = "assistant"
                    deltas.append(opening)
                    deltas.extend({"tool_calls": [{"index": index, "function": {
                        "arguments": piece}}]} for piece in call.argument_pieces())
                return deltas

            def _event(self, data: dict[str, Any]) -> None:
                self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()

        return Handler
