"""An approval nobody answers is decided by Jason under the stated policy, by the worker."""

from __future__ import annotations

import json

from sqlalchemy import text

from tests.conftest import titan
from worker.db.engine import Database


async def test_overdue_approvals_are_decided_by_jason(titan_env: dict, db: Database) -> None:
    for name in ("Clean Output", "Flagged Output", "Still Waiting"):
        assert titan(titan_env, "project", "create", name, "--require-approval").returncode == 0
    assert titan(titan_env, "worker", "--exit-when-idle").returncode == 0
    async with db.session() as s:
        # Two approvals ran out of time (the default timeout is 2 hours); one still has time.
        await s.execute(text("UPDATE projects SET awaiting_since = now() - interval '3 hours' "
                             "WHERE slug IN ('clean-output', 'flagged-output')"))
        await s.execute(text("""UPDATE projects SET flags = '["contrast too low"]'::jsonb
                                WHERE slug = 'flagged-output'"""))

    # Its heartbeat decides; the publish job it enqueues keeps it busy until done.
    worker = titan({**titan_env, "TITAN_HEARTBEAT_SECONDS": "0.2"}, "worker", "--exit-when-idle")
    assert worker.returncode == 0

    def status(slug: str) -> str:
        return json.loads(titan(titan_env, "project", "show", slug, "--json").stdout)["status"]

    assert status("clean-output") == "published"
    assert status("flagged-output") == "rejected"
    assert status("still-waiting") == "awaiting_approval"
    async with db.session() as s:
        decisions = (await s.execute(text(
            "SELECT p.slug, a.decision, a.decided_by, a.actor, a.comment FROM approvals a "
            "JOIN projects p ON p.id = a.project_id ORDER BY p.slug"))).all()
        announced = (await s.execute(text(
            "SELECT message FROM log_entries WHERE logger = 'titan.messages' ORDER BY id"))
        ).scalars().all()
    assert [(d.slug, d.decision, d.decided_by, d.actor) for d in decisions] == [
        ("clean-output", "approved", "jason", "Jason"),
        ("flagged-output", "rejected", "jason", "Jason")]
    assert "contrast too low" in decisions[1].comment
    assert sorted(announced) == [
        "Nobody answered in time, so I approved Clean Output: it passed verification and "
        "nothing was flagged",
        "Nobody answered in time, so I rejected Flagged Output: verification flagged "
        "contrast too low"]
