"""What a project manager sees when things go wrong, wait for approval, or run twice."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from sqlalchemy import text

from tests.conftest import titan
from worker.db.engine import Database
from worker.sitehost import stop_site_host


def _show(env: dict, ref: str) -> dict:
    shown = titan(env, "project", "show", ref, "--json")
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def test_unwritable_output_fails_clearly_then_retry_publishes(titan_env: dict, tmp_path: Path
                                                              ) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the output folder should be")
    env = {**titan_env, "OUTPUT_DIR": str(blocked / "sites")}
    assert titan(env, "project", "create", "Moon Garden").returncode == 0
    worker = titan(env, "worker", "--exit-when-idle")
    assert worker.returncode == 0

    project = _show(env, "moon-garden")
    assert project["status"] == "failed"
    assert project["stage"] == "deploy"
    assert "deploy failed" in project["lastError"] and "Not a directory" in project["lastError"]
    deploy = next(j for j in project["jobs"] if j["kind"] == "deploy")
    assert deploy["status"] == "dead" and deploy["attempts"] == 3
    assert not any(a["kind"] == "archive" for a in project["artifacts"])  # nothing published

    fixed = {**titan_env, "OUTPUT_DIR": str(tmp_path / "sites")}
    assert titan(fixed, "project", "retry", "moon-garden").returncode == 0
    assert titan(fixed, "worker", "--exit-when-idle").returncode == 0
    project = _show(fixed, "moon-garden")
    assert project["status"] == "published" and project["lastError"] is None
    assert project["url"].endswith("/moon-garden/")

    logs = titan(fixed, "logs", "--project", "moon-garden", "--limit", "500")
    assert "failed (attempt 1 of 3), will retry" in logs.stdout
    assert "project published" in logs.stdout


async def test_approval_gate_waits_then_publishes_or_rejects(titan_env: dict, db: Database
                                                             ) -> None:
    for name in ("Approve Me", "Reject Me"):
        assert titan(titan_env, "project", "create", name, "--require-approval").returncode == 0
    assert titan(titan_env, "worker", "--exit-when-idle").returncode == 0
    for slug in ("approve-me", "reject-me"):
        project = _show(titan_env, slug)
        assert project["status"] == "awaiting_approval"
        assert [j["kind"] for j in project["jobs"]][-1] == "verify"  # no publish job yet

    assert titan(titan_env, "project", "approve", "approve-me", "--comment", "ship it"
                 ).returncode == 0
    rejected = titan(titan_env, "project", "reject", "reject-me", "--comment", "wrong colours")
    assert rejected.returncode == 0
    twice = titan(titan_env, "project", "approve", "reject-me")
    assert twice.returncode == 1 and "not awaiting approval" in twice.stderr
    assert titan(titan_env, "worker", "--exit-when-idle").returncode == 0

    assert _show(titan_env, "approve-me")["status"] == "published"
    rejected_project = _show(titan_env, "reject-me")
    assert rejected_project["status"] == "rejected"
    assert rejected_project["lastError"] == "wrong colours"
    async with db.session() as s:
        decisions = (await s.execute(text(
            "SELECT p.slug, a.decision, a.decided_by, a.comment FROM approvals a "
            "JOIN projects p ON p.id = a.project_id ORDER BY a.id"))).all()
    assert [tuple(d) for d in decisions] == [("approve-me", "approved", "person", "ship it"),
                                             ("reject-me", "rejected", "person", "wrong colours")]


async def test_plan_goals_are_ticked_by_the_pipeline(titan_env: dict, db: Database) -> None:
    assert titan(titan_env, "project", "create", "Plan Check", "--feature", "Search",
                 "--feature", "Billing").returncode == 0
    async with db.session() as s:
        counts = (await s.execute(text(
            "SELECT kind, count(*) AS n, count(*) FILTER (WHERE done) AS done FROM plan_items "
            "GROUP BY kind ORDER BY kind"))).all()
    # Home + 2 features, each with Build and Launch milestones, 5 goals per feature
    assert [tuple(c) for c in counts] == [("feature", 3, 0), ("goal", 15, 0), ("milestone", 6, 0)]
    assert titan(titan_env, "worker", "--exit-when-idle").returncode == 0
    async with db.session() as s:
        undone = (await s.execute(text(
            "SELECT count(*) FROM plan_items WHERE kind = 'goal' AND NOT done"))).scalar()
    assert undone == 0


async def test_a_step_run_twice_leaves_one_result(titan_env: dict, db: Database) -> None:
    assert titan(titan_env, "project", "create", "Twice").returncode == 0
    assert titan(titan_env, "worker", "--exit-when-idle").returncode == 0
    before = _show(titan_env, "twice")
    # Replay publish, as if a worker crashed after publishing but before recording it.
    async with db.session() as s:
        await s.execute(text(
            "INSERT INTO jobs (kind, project_id, payload) VALUES ('publish', :id, '{}')"),
            {"id": before["id"]})
    assert titan(titan_env, "worker", "--exit-when-idle").returncode == 0
    after = _show(titan_env, "twice")
    assert after["status"] == "published"
    assert len(after["artifacts"]) == len(before["artifacts"])
    archives = [a for a in after["artifacts"] if a["kind"] == "archive"]
    assert len(archives) == 1
    assert archives[0]["sha256"] == next(a for a in before["artifacts"]
                                         if a["kind"] == "archive")["sha256"]


def test_a_step_on_another_machine_replays_the_earlier_steps(titan_env: dict, tmp_path: Path
                                                              ) -> None:
    """Workers on several machines share one database but not their files: a step that lands
    on a worker that did not run the earlier steps rebuilds them there first."""
    machine_a = {**titan_env, "TITAN_HOME": str(tmp_path / "machine-a")}
    machine_b = {**titan_env, "TITAN_HOME": str(tmp_path / "machine-b")}
    assert titan(machine_a, "project", "create", "Roaming Site", "--require-approval"
                 ).returncode == 0
    assert titan(machine_a, "worker", "--exit-when-idle").returncode == 0  # up to verify
    assert _show(machine_a, "roaming-site")["status"] == "awaiting_approval"
    assert titan(machine_a, "project", "approve", "roaming-site").returncode == 0

    worker_b = titan(machine_b, "worker", "--exit-when-idle")  # publish runs on machine B
    assert worker_b.returncode == 0
    assert "replaying scaffold on this worker before publish" in worker_b.stdout
    project = _show(machine_b, "roaming-site")
    assert project["status"] == "published"
    archive = next(a for a in project["artifacts"] if a["kind"] == "archive")
    assert archive["path"].startswith(str(tmp_path / "machine-b"))
    assert Path(archive["path"]).is_file()
    try:
        assert "Roaming Site" in httpx.get(project["url"], trust_env=False).text
    finally:
        stop_site_host(tmp_path / "machine-a")
        stop_site_host(tmp_path / "machine-b")
