"""How errors become HTTP answers, and the request-body size limit.

Every 4xx body has ``detail`` plus, for validation problems, ``field`` (the offending field, e.g.
``templateRef`` or ``patches[0].path``) and ``message``, so a script can tell what to fix.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worker.errors import Conflict, InvalidInput, NotFound
from worker.logs import get_logger

MAX_BODY_BYTES = 1024 * 1024
log = get_logger("titan.api")


def invalid(field: str, message: str, *, detail: Any = None) -> JSONResponse:
    body = {"detail": detail if detail is not None else
            [{"loc": ["body", *field.split(".")], "msg": message, "type": "value_error"}],
            "field": field, "message": message}
    return JSONResponse(jsonable_encoder(body), status_code=422)


def field_from_loc(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts[:1]
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first: dict[str, Any] = errors[0] if errors else {"loc": ["body"], "msg": "invalid request"}
        # Pydantic's ``input`` echoes whatever was sent (maybe a megabyte); leave it out.
        detail = [{k: v for k, v in e.items() if k not in ("input", "ctx", "url")}
                  for e in errors]
        field = ("body" if first.get("type") == "json_invalid"
                 else field_from_loc(first["loc"]))
        return invalid(field, first["msg"], detail=detail)

    @app.exception_handler(InvalidInput)
    async def _invalid(request: Request, exc: InvalidInput) -> JSONResponse:
        return invalid(exc.field, exc.message)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(Conflict)
    async def _conflict(request: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> JSONResponse:
        # A value the database cannot store (out of range, bad encoding) is the caller's input.
        log.warning("database rejected a value", error=str(exc.orig)[:300])
        return invalid("body", f"a value cannot be stored: {str(exc.orig).splitlines()[0]}")


def reject_unstorable_text(value: Any, field: str = "") -> None:
    """PostgreSQL text and jsonb cannot hold NUL characters or lone surrogates: say which field."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput(field or "body", "must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(field or "body", "must be valid Unicode text") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{field}.{key}" if field else str(key)
            reject_unstorable_text(key, name)
            reject_unstorable_text(item, name)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            reject_unstorable_text(item, f"{field}[{index}]")


class BodyLimit:
    """Answer 413 to bodies over ``limit`` bytes, declared (Content-Length) or streamed.

    A streamed body that grows too large gets its 413 at once; the application then sees the
    client disconnect, and whatever it tries to answer afterwards is dropped.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(send)
            return
        received = 0
        started = answered = False

        async def limited_receive() -> Message:
            nonlocal received, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit and not started:
                    answered = True
                    await self._too_large(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)

    async def _too_large(self, send: Send) -> None:
        body = (b'{"detail":"request body is larger than %d bytes","field":"body"}'
                % self.limit)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
