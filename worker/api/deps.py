"""Request dependencies: the database, the settings, and who the caller is.

Ops routes take ``X-OPS-TOKEN``: ``OPS_TOKEN`` proposes (and reads), ``OPS_APPROVER_TOKEN``
approves or rejects (and reads). Neither can do the other's part: separation of duties.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request

from worker.api.guard import same_secret
from worker.db.engine import Database
from worker.services.principals import API_LOOPBACK, API_TOKEN, OPS_APPROVER, OPS_PROPOSER


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_settings(request: Request) -> Any:
    return request.app.state.settings


DB = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Any, Depends(get_settings)]


def _secret(value: Any) -> str:
    return value.get_secret_value() if value is not None else ""


def api_principal(request: Request) -> str:
    """Who is calling a non-ops route (the guard has checked the bearer token already)."""
    return API_TOKEN if request.app.state.settings.api_token is not None else API_LOOPBACK


Principal = Annotated[str, Depends(api_principal)]


@dataclass(frozen=True)
class OpsCaller:
    principal: str  # OPS_PROPOSER or OPS_APPROVER


def ops_caller(
    request: Request,
    x_ops_token: Annotated[str | None, Header(
        alias="X-OPS-TOKEN",
        description="OPS_TOKEN to propose, OPS_APPROVER_TOKEN to approve or reject")] = None,
) -> OpsCaller:
    """Ops endpoints are closed (503) until OPS_TOKEN is set; then the header must carry
    OPS_TOKEN or OPS_APPROVER_TOKEN."""
    settings = request.app.state.settings
    proposer, approver = _secret(settings.ops_token), _secret(settings.ops_approver_token)
    if not proposer:
        raise HTTPException(503, "ops endpoints are disabled: OPS_TOKEN is not configured")
    if not x_ops_token:
        raise HTTPException(401, "missing X-OPS-TOKEN header",
                            headers={"WWW-Authenticate": "X-OPS-TOKEN"})
    if approver and approver != proposer and same_secret(x_ops_token, approver):
        return OpsCaller(OPS_APPROVER)
    if same_secret(x_ops_token, proposer):
        return OpsCaller(OPS_PROPOSER)
    raise HTTPException(403, "wrong X-OPS-TOKEN")


Caller = Annotated[OpsCaller, Depends(ops_caller)]


def require_proposer(caller: Caller) -> OpsCaller:
    if caller.principal != OPS_PROPOSER:
        raise HTTPException(403, "the approver's token cannot propose changes (separation of "
                                 "duties): propose with OPS_TOKEN")
    return caller


def require_approver(request: Request, caller: Caller) -> OpsCaller:
    if caller.principal == OPS_APPROVER:
        return caller
    settings = request.app.state.settings
    approver = _secret(settings.ops_approver_token)
    if not approver:
        how = ("set OPS_APPROVER_TOKEN (a credential other than OPS_TOKEN) to decide through "
               "the API, or decide at the desktop or with `titan ops approve`")
    elif approver == _secret(settings.ops_token):
        how = "OPS_APPROVER_TOKEN must differ from OPS_TOKEN"
    else:
        how = "send OPS_APPROVER_TOKEN in X-OPS-TOKEN"
    raise HTTPException(403, f"the proposer's token cannot approve or reject changes "
                             f"(separation of duties): {how}")


# The old name: any valid ops credential (proposer or approver) passes.
require_ops_token = ops_caller
