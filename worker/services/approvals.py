"""Jason's executive decision: approvals nobody answered in time are decided by policy.

The policy, as Jason states it: output that passed verification with nothing flagged is
approved; output with any flag is rejected, naming the flags. Runs in every worker's
heartbeat (headless servers too); ``SKIP LOCKED`` keeps two workers from deciding twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, text

from worker.db.engine import Database
from worker.db.models import Project
from worker.logs import get_logger
from worker.services.overdue import OVERDUE
from worker.services.principals import JASON_TIMEOUT
from worker.services.projects import apply_decision

POLICY = ("When nobody answers an approval in time, I approve output that passed verification "
          "with nothing flagged, and reject anything flagged.")
JASON = "Jason"
# Jason's and the projects' outbound messages are log lines from this logger (Sales counts them).
messages = get_logger("titan.messages")


@dataclass(frozen=True)
class Decision:
    project_id: int
    slug: str
    name: str
    decision: str
    reason: str
    # The approvals row, when read back (``ProjectService.decisions_since``).
    approval_id: int | None = None

    def announcement(self) -> str:
        """What Jason says about the decision (the chat, the speaker, the messages log)."""
        verb = "approved" if self.decision == "approved" else "rejected"
        return f"Nobody answered in time, so I {verb} {self.name}: {self.reason}"


def judge(flags: list[str]) -> tuple[str, str]:
    """The policy itself: (decision, reason)."""
    if flags:
        return "rejected", "verification flagged " + "; ".join(str(f) for f in flags)
    return "approved", "it passed verification and nothing was flagged"


async def decide_overdue(db: Database) -> list[Decision]:
    """Decide, as Jason by the policy ``judge``, up to 50 projects whose approval
    wait has run out; announces and returns each decision."""
    decisions = []
    async with db.session() as session:
        overdue = (await session.scalars(
            select(Project)
            .where(text(OVERDUE))
            .order_by(Project.id)
            .with_for_update(skip_locked=True)
            .limit(50))).all()
        for project in overdue:
            decision, reason = judge(list(project.flags or []))
            await apply_decision(session, project, decision, decided_by="jason", actor=JASON,
                                 comment=reason, principal=JASON_TIMEOUT)
            decisions.append(Decision(project.id, project.slug, project.name, decision, reason))
    for d in decisions:
        messages.info(d.announcement(), project_id=d.project_id, kind="jason_decision",
                      decision=d.decision)
    return decisions
