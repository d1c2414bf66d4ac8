"""The repair loop's rounds (issue 18): each round's diff, check summary, tokens and refusals.

``record`` stores a round, ``list_rounds`` reads them back in order (a project's, a job's or one
loop run's), ``latest_by_project`` reads each project's newest round in one query (the Progress
tab's "round 2/3: 1 test failing"), ``round_dict`` is their JSON form. ``tokens_of`` sums the
ledger rows of a round's calls (``ai_calls``), which is where a round's tokens come from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import distinct_on

from worker.db.engine import Database
from worker.db.models import AICall, AIRound


@dataclass(frozen=True)
class RoundRecord:
    """One round as the loop reports it (``refusals``: ``[{"path", "reason"}]``)."""

    loop_id: str
    purpose: str
    round: int
    max_rounds: int
    diff: str
    check_summary: str
    passed: bool
    tokens: int = 0
    check_exit_code: int | None = None
    check_output: str = ""
    refusals: list[dict[str, str]] = field(default_factory=list)
    project_id: int | None = None
    job_id: int | None = None


async def record(db: Database, row: RoundRecord) -> int:
    """Store one round; returns its id."""
    stored = AIRound(**{**row.__dict__, "refusals": list(row.refusals)})
    async with db.session() as session:
        session.add(stored)
        await session.flush()
        return stored.id


async def list_rounds(db: Database, *, project_id: int | None = None, job_id: int | None = None,
                      loop_id: str | None = None, limit: int = 200) -> list[AIRound]:
    """Rounds in the order they ran (oldest first), at most ``limit`` of the newest."""
    query = select(AIRound).order_by(AIRound.id.desc()).limit(limit)
    if project_id is not None:
        query = query.where(AIRound.project_id == project_id)
    if job_id is not None:
        query = query.where(AIRound.job_id == job_id)
    if loop_id is not None:
        query = query.where(AIRound.loop_id == loop_id)
    async with db.session() as session:
        return list(reversed((await session.scalars(query)).all()))


@dataclass(frozen=True)
class LatestRound:
    """A project's newest round, without its diff and output (what a list row shows)."""

    project_id: int
    round: int
    max_rounds: int
    check_summary: str
    passed: bool
    refused: int
    created_at: datetime | None = None

    @property
    def progress(self) -> str:
        """"round 2/3: 1 test failing" (", 1 edit refused" when edits were refused)."""
        text = f"round {self.round}/{self.max_rounds}: {self.check_summary}"
        if self.refused:
            text += f", {self.refused} edit{'s' if self.refused != 1 else ''} refused"
        return text


async def latest_by_project(db: Database, project_ids: Sequence[int]) -> dict[int, LatestRound]:
    """Each of these projects' newest round (projects without rounds are absent); one query."""
    ids = sorted({int(i) for i in project_ids})
    if not ids:
        return {}
    query = (select(AIRound.project_id, AIRound.round, AIRound.max_rounds, AIRound.check_summary,
                    AIRound.passed, func.jsonb_array_length(AIRound.refusals),
                    AIRound.created_at)
             .where(AIRound.project_id.in_(ids))
             .order_by(AIRound.project_id, AIRound.id.desc())
             .ext(distinct_on(AIRound.project_id)))
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    return {int(r[0]): LatestRound(int(r[0]), r[1], r[2], r[3], bool(r[4]), int(r[5] or 0), r[6])
            for r in rows}


async def tokens_of(db: Database, call_ids: Sequence[int]) -> int:
    """Prompt + completion tokens of these ledger rows."""
    if not call_ids:
        return 0
    total = func.coalesce(func.sum(func.coalesce(AICall.prompt_tokens, 0)
                                   + func.coalesce(AICall.completion_tokens, 0)), 0)
    async with db.session() as session:
        return int(await session.scalar(
            select(total).where(AICall.id.in_(list(call_ids)))) or 0)


def round_dict(row: AIRound) -> dict[str, Any]:
    """The JSON form (later the API and the Output tab)."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": row.id, "projectId": row.project_id, "jobId": row.job_id, "loopId": row.loop_id,
        "purpose": row.purpose, "round": row.round, "maxRounds": row.max_rounds,
        "diff": row.diff, "checkSummary": row.check_summary,
        "checkExitCode": row.check_exit_code, "checkOutput": row.check_output,
        "passed": row.passed, "tokens": row.tokens,
        "refusals": list(row.refusals or []), "createdAt": iso(row.created_at),
    }
