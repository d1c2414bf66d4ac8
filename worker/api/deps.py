"""Request dependencies: the database, the settings, the ops token check."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request

from worker.db.engine import Database


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_settings(request: Request) -> Any:
    return request.app.state.settings


DB = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Any, Depends(get_settings)]


def require_ops_token(
    request: Request,
    x_ops_token: Annotated[str | None, Header(alias="X-OPS-TOKEN",
                                              description="must equal OPS_TOKEN")] = None,
) -> None:
    """Ops endpoints are closed (503) until OPS_TOKEN is set; then the header must match it."""
    configured = request.app.state.settings.ops_token
    expected = configured.get_secret_value() if configured is not None else ""
    if not expected:
        raise HTTPException(503, "ops endpoints are disabled: OPS_TOKEN is not configured")
    if not x_ops_token:
        raise HTTPException(401, "missing X-OPS-TOKEN header",
                            headers={"WWW-Authenticate": "X-OPS-TOKEN"})
    # Constant time, so response timing does not leak how much of a guess was right.
    if not hmac.compare_digest(x_ops_token.encode("utf-8", "surrogatepass"),
                               expected.encode("utf-8")):
        raise HTTPException(403, "wrong X-OPS-TOKEN")
