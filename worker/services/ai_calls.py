"""The AI call ledger: every call to the AI endpoint leaves one row (success or failure).

``record`` writes a row, ``list_calls`` reads them back newest first, ``tokens_used`` sums a
project's tokens for its budget. Endpoints are stored without credentials; keys never reach here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update

from worker.db.engine import Database
from worker.db.models import AICall

MTOK = Decimal(1_000_000)


@dataclass(frozen=True)
class CallRecord:
    """What one call cost and how it went (``error`` is None on success)."""

    purpose: str
    model: str
    endpoint: str
    project_id: int | None = None
    job_id: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    time_to_first_token_ms: float | None = None
    total_ms: float | None = None
    cost: Decimal | None = None
    error: str | None = None


def price(prompt_tokens: int | None, completion_tokens: int | None,
          per_mtok_in: Decimal | None, per_mtok_out: Decimal | None) -> Decimal | None:
    """The call's cost when a price is configured (an unset side counts as free), else None."""
    if per_mtok_in is None and per_mtok_out is None:
        return None
    cost = (Decimal(prompt_tokens or 0) * (per_mtok_in or 0)
            + Decimal(completion_tokens or 0) * (per_mtok_out or 0)) / MTOK
    return cost.quantize(Decimal("0.000001"))


async def record(db: Database, call: CallRecord) -> int:
    """Store one AI call in the ledger; returns its id."""
    row = AICall(**call.__dict__)
    async with db.session() as session:
        session.add(row)
        await session.flush()
        return row.id


async def list_calls(db: Database, *, project_id: int | None = None, limit: int = 100,
                     before_id: int | None = None, after_id: int | None = None
                     ) -> list[AICall]:
    """The most recent AI calls first, at most ``limit``, optionally of one project.

    ``before_id`` / ``after_id`` page by id (keyset: one indexed query however deep the page),
    as the desktop's ledger view does while scrolling and while following new calls."""
    query = select(AICall).order_by(AICall.id.desc()).limit(limit)
    if project_id is not None:
        query = query.where(AICall.project_id == project_id)
    if before_id is not None:
        query = query.where(AICall.id < before_id)
    if after_id is not None:
        query = query.where(AICall.id > after_id)
    async with db.session() as session:
        return list((await session.scalars(query)).all())


async def tokens_used(db: Database, project_id: int) -> int:
    """Prompt + completion tokens the project has spent so far."""
    total = func.coalesce(func.sum(func.coalesce(AICall.prompt_tokens, 0)
                                   + func.coalesce(AICall.completion_tokens, 0)), 0)
    async with db.session() as session:
        return int(await session.scalar(
            select(total).where(AICall.project_id == project_id)) or 0)


async def file_under(db: Database, ids: Sequence[int], project_id: int) -> None:
    """File rows of calls made before it was known which project they concern (Jason's
    routing call) under that project."""
    if not ids:
        return
    async with db.session() as session:
        await session.execute(update(AICall).where(AICall.id.in_(list(ids)))
                              .values(project_id=project_id))


def call_dict(row: AICall) -> dict[str, Any]:
    """The JSON form (``titan ai calls --json``, later the API and the GUI)."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": row.id, "projectId": row.project_id, "jobId": row.job_id, "purpose": row.purpose,
        "model": row.model, "endpoint": row.endpoint, "promptTokens": row.prompt_tokens,
        "completionTokens": row.completion_tokens,
        "timeToFirstTokenMs": row.time_to_first_token_ms, "totalMs": row.total_ms,
        "cost": str(row.cost) if row.cost is not None else None, "error": row.error,
        "createdAt": iso(row.created_at),
    }


@dataclass(frozen=True)
class Usage:
    """A project's AI spending against its budget (``budget`` None: no limit is set)."""

    calls: int
    tokens: int
    budget: int | None

    @property
    def share(self) -> float | None:
        """Tokens used as a share of the budget (may pass 1.0 by the last call's size)."""
        return self.tokens / self.budget if self.budget else None


async def usage(db: Database, project_id: int, budget: int | None) -> Usage:
    """How many calls and tokens the project has used, with ``budget`` (the setting
    TITAN_AI_MAX_TOKENS_PER_PROJECT) alongside."""
    tokens = func.coalesce(func.sum(func.coalesce(AICall.prompt_tokens, 0)
                                    + func.coalesce(AICall.completion_tokens, 0)), 0)
    async with db.session() as session:
        calls, used = (await session.execute(
            select(func.count(AICall.id), tokens).where(AICall.project_id == project_id))).one()
    return Usage(int(calls or 0), int(used or 0), budget)
