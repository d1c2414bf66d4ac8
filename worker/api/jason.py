"""``POST /api/jason/ask``: ask Jason in words, as the chat and ``titan jason ask`` do.

The same brain (``worker.jason.brain.Jason``) parses the text and acts through the services, so a
headless server answers Jason without the desktop. Each request stands alone: a destructive command
(cancel, reject, retry all, restart) is carried out only with ``"confirm": true`` (the CLI's
``--yes``); without it the answer is Jason's question and ``needsConfirmation`` is true.

Text that is no command goes to the AI model when one is configured (see ``worker.jason.brain``):
it may run one of Jason's commands (same confirmation rules), propose a plan (built only with
``"confirm": true``) or answer a question from the database. ``reply`` is short enough to speak;
``detail`` has the whole answer (or the proposed plan) when there is more.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from worker.api.deps import DB, SettingsDep
from worker.api.errors import reject_unstorable_text
from worker.jason.brain import Jason, Reply

router = APIRouter(prefix="/api/jason", tags=["jason"])


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(..., min_length=1, max_length=2000, description="what you say to Jason")
    confirm: StrictBool = Field(False, description="answer yes if Jason asks for confirmation")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is blank: say something to Jason")
        return value


def reply_dict(reply: Reply) -> dict[str, Any]:
    return {"reply": reply.text, "command": reply.command, "slots": reply.slots,
            "action": reply.action, "needsConfirmation": reply.awaiting_confirmation,
            "projectId": reply.project_id, "detail": reply.detail}


@router.post("/ask", summary="ask Jason (typed text); destructive commands need confirm: true")
async def ask(body: AskRequest, db: DB, settings: SettingsDep) -> dict[str, Any]:
    reject_unstorable_text(body.text, "text")
    jason = Jason(db, settings)
    reply = await jason.ask(body.text)
    if reply.awaiting_confirmation and body.confirm:
        reply = await jason.ask("yes")
    return reply_dict(reply)
