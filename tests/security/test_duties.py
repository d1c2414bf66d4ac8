"""Separation of duties: OPS_TOKEN proposes, OPS_APPROVER_TOKEN decides, and every decision
records who made it. The API is a real ``titan api`` process; the CLI is the real ``titan``."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from tests.api.server import TitanApiProcess
from tests.conftest import titan
from worker.db.engine import Database
from worker.services.approvals import decide_overdue

PROPOSER = "proposer-token-71aa"
APPROVER = "approver-token-93cc"
API_TOKEN = "api-token-44de"
JSON = {"Content-Type": "application/json"}
PROPOSAL = {"title": "Docs", "patches": [{"path": "docs/notes.md", "content": "notes\n"}]}


@pytest.fixture
def env(titan_env: dict) -> dict:
    return {**titan_env, "OPS_TOKEN": PROPOSER, "OPS_APPROVER_TOKEN": APPROVER,
            "TITAN_API_TOKEN": API_TOKEN, "TITAN_API_ALLOWED_HOSTS": ""}


@pytest.fixture
def http(env: dict) -> Iterator[httpx.Client]:
    with TitanApiProcess(env) as api, httpx.Client(base_url=api.url, trust_env=False,
                                                   timeout=30, headers=JSON) as client:
        yield client


def ops(http: httpx.Client, method: str, path: str, token: str, **kwargs: object
        ) -> httpx.Response:
    return http.request(method, f"/api/ops{path}", headers={"X-OPS-TOKEN": token}, **kwargs)


async def _awaiting(db: Database, table: str, row_id: int) -> None:
    """Put a row at the approval gate (the pipeline / ops loop would, minutes later)."""
    async with db.session() as session:
        extra = ", awaiting_since = now()" if table == "projects" else ""
        await session.execute(text(f"UPDATE {table} SET status = 'awaiting_approval'{extra} "
                                   "WHERE id = :id"), {"id": row_id})


async def _approvals(db: Database) -> list[tuple[str, str, str]]:
    async with db.session() as session:
        rows = await session.execute(text(
            "SELECT decision, decided_by, principal FROM approvals ORDER BY id"))
        return [tuple(r) for r in rows]


async def test_the_proposers_token_cannot_approve_or_reject(http: httpx.Client,
                                                           db: Database) -> None:
    proposed = ops(http, "POST", "/propose", PROPOSER, json=PROPOSAL)
    assert proposed.status_code == 201, proposed.text
    change_id = proposed.json()["id"]
    await _awaiting(db, "ops_changes", change_id)
    for verb in ("approve", "reject"):
        refused = ops(http, "POST", f"/changes/{change_id}/{verb}", PROPOSER)
        assert refused.status_code == 403, refused.text
        assert "OPS_APPROVER_TOKEN" in refused.json()["detail"]
        # The API token is no ops credential either.
        assert http.post(f"/api/ops/changes/{change_id}/{verb}", headers={
            "Authorization": f"Bearer {API_TOKEN}"}).status_code == 401
    assert await _approvals(db) == []
    # Nor can the approver propose.
    assert ops(http, "POST", "/propose", APPROVER, json=PROPOSAL).status_code == 403

    approved = ops(http, "POST", f"/changes/{change_id}/approve", APPROVER,
                   json={"comment": "fine"})
    assert approved.status_code == 200, approved.text
    shown = ops(http, "GET", f"/changes/{change_id}", PROPOSER).json()
    assert shown["proposedBy"] == "api:ops-token"
    assert shown["decidedBy"] == "api:approver-token"
    assert shown["approvals"][0]["principal"] == "api:approver-token"
    assert await _approvals(db) == [("approved", "api", "api:approver-token")]


@pytest.mark.parametrize("approver", ["", PROPOSER])
def test_without_a_distinct_approver_token_the_api_cannot_decide(env: dict, approver: str
                                                                 ) -> None:
    with TitanApiProcess({**env, "OPS_APPROVER_TOKEN": approver}) as api, \
            httpx.Client(base_url=api.url, trust_env=False, headers=JSON) as client:
        refused = ops(client, "POST", "/changes/1/approve", PROPOSER)
        assert refused.status_code == 403
        assert "OPS_APPROVER_TOKEN" in refused.json()["detail"]


async def test_project_decisions_through_the_api_record_the_token(http: httpx.Client,
                                                                 db: Database) -> None:
    bearer = {"Authorization": f"Bearer {API_TOKEN}"}
    project = http.post("/api/projects", json={"name": "Gate"}, headers=bearer).json()
    await _awaiting(db, "projects", project["id"])
    assert http.post(f"/api/projects/{project['id']}/reject", json={"comment": "no"},
                     headers=bearer).status_code == 200
    shown = http.get(f"/api/projects/{project['id']}", headers=bearer).json()
    assert shown["decidedBy"] == "api:api-token"
    assert shown["approvals"][0]["principal"] == "api:api-token"


async def test_a_person_at_the_cli_decides_as_their_os_user(titan_env: dict,
                                                             db: Database) -> None:
    user = f"user:{getpass.getuser()}"
    created = titan(titan_env, "project", "create", "Desk Decision", "--json")
    assert created.returncode == 0, created.stderr
    await _awaiting(db, "projects", int(json.loads(created.stdout)["id"]))
    approved = titan(titan_env, "project", "approve", "desk-decision", "--comment", "ok")
    assert approved.returncode == 0, approved.stderr
    shown = titan(titan_env, "project", "show", "desk-decision")
    assert f"approved: by {user}" in shown.stdout, shown.stdout

    proposal = titan_env["TITAN_HOME"] + "-notes.md"
    with open(proposal, "w") as fh:
        fh.write("notes\n")
    proposed = titan(titan_env, "ops", "propose", "--title", "Notes", "--patch",
                     f"docs/notes.md={proposal}", "--json")
    assert proposed.returncode == 0, proposed.stderr
    change_id = int(json.loads(proposed.stdout)["id"])
    await _awaiting(db, "ops_changes", change_id)
    rejected = titan(titan_env, "ops", "reject", str(change_id), "--comment", "later")
    assert rejected.returncode == 0, rejected.stderr
    shown = titan(titan_env, "ops", "show", str(change_id))
    assert f"proposed by: {user}" in shown.stdout and f"rejected by {user}" in shown.stdout
    assert await _approvals(db) == [("approved", "person", user), ("rejected", "person", user)]


async def test_jason_records_that_he_decided_after_the_timeout(titan_env: dict,
                                                                db: Database) -> None:
    created = titan(titan_env, "project", "create", "Nobody Answers", "--json")
    assert created.returncode == 0, created.stderr
    async with db.session() as session:
        await session.execute(text(
            "UPDATE projects SET status = 'awaiting_approval', approval_timeout_seconds = 60, "
            "awaiting_since = now() - interval '2 minutes'"))
    (decision,) = await decide_overdue(db)
    assert decision.decision == "approved"
    assert await _approvals(db) == [("approved", "jason", "jason (timeout)")]
    shown = titan(titan_env, "project", "show", "nobody-answers")
    assert "approved: by jason (timeout)" in shown.stdout, shown.stdout
