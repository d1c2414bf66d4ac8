"""ai/python-app with the REAL local model (SmolLM2-135M via llama.cpp, the ai-local extra): a
real worker with TITAN_AI_BUILDS=on starts the model itself, as on a fresh clone. The model is
tiny, so its quality is not asserted: the project reaches a terminal state (``published``, or
``failed`` with a stated reason), everything the model wrote is inside the project's workspace,
Titan's packaging is Titan's, and every call is in the ledger under the project and its job."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.ai.conftest import child_env
from tests.conftest import titan
from worker import sandbox
from worker.ai.local import local_unavailable_reason
from worker.db.engine import Database
from worker.services.ai_calls import list_calls
from worker.services.ai_rounds import list_rounds

pytestmark = [
    pytest.mark.skipif(local_unavailable_reason() is not None,
                       reason=f"the ai-local extra is not installed: {local_unavailable_reason()}"),
    pytest.mark.skipif(sandbox.bwrap_problem() is not None,
                       reason=f"no sandbox here: {sandbox.bwrap_problem()}"),
]

SLUG = "local-app"


def _ledger(db_url: str, project_id: int) -> tuple[list, list]:
    async def read() -> tuple[list, list]:
        db = Database(db_url)
        try:
            return (await list_calls(db, project_id=project_id),
                    await list_rounds(db, project_id=project_id))
        finally:
            await db.dispose()
    return asyncio.run(read())


@pytest.mark.slow
def test_python_app_with_the_local_model_ends_in_a_terminal_state(
        titan_env: dict, db_url: str) -> None:
    env = child_env(titan_env, TITAN_AI_BUILDS="on", TITAN_AI_REPAIR_ROUNDS="1",
                    TITAN_AI_TIMEOUT_SECONDS="600")
    created = titan(env, "project", "create", SLUG, "--template", "ai/python-app",
                    "--description", "Converts temperatures between Celsius and Fahrenheit")
    assert created.returncode == 0, created.stderr
    worker = titan(env, "worker", "--exit-when-idle", timeout=1800)
    assert worker.returncode == 0, worker.stdout[-3000:] + worker.stderr[-3000:]

    project = json.loads(titan(env, "project", "show", SLUG, "--json").stdout)
    assert project["status"] in ("published", "failed")
    if project["status"] == "failed":
        assert project["lastError"], "failed without a stated reason"
    calls, rounds = _ledger(db_url, project["id"])
    scaffold = next(j for j in project["jobs"] if j["kind"] == "scaffold")
    assert calls, "no call of the model is in the ledger"
    assert {(c.project_id, c.job_id) for c in calls} == {(project["id"], scaffold["id"])}
    assert {c.purpose.split(" ")[0] for c in calls} <= {"code", "content"}
    assert calls[0].purpose.split(" ")[0] == "content"  # the file plan comes first
    for r in rounds:
        assert (r.project_id, r.job_id) == (project["id"], scaffold["id"])
    # Everything the model wrote is inside the project's workspace; the packaging is Titan's.
    home = Path(env["TITAN_HOME"])
    workdir = (home / "work" / SLUG).resolve()
    record = home / "projects" / ".ai-builds" / f"{SLUG}.json"
    if record.is_file():
        for rel in json.loads(record.read_text())["files"]:
            assert (workdir / rel).resolve().is_relative_to(workdir), rel
    outside = [p for p in (workdir / "src").rglob("*")
               if not p.resolve().is_relative_to(workdir)]
    assert outside == []
    assert 'local-app = "local_app.cli:main"' in (workdir / "src" / "pyproject.toml").read_text()
    if project["status"] == "published":
        kinds = sorted(a["kind"] for a in project["artifacts"])
        assert "archive" in kinds and any(a["name"] == "wheel" for a in project["artifacts"])
    print(f"ai/python-app: {project['status']} {project.get('lastError') or ''} "
          f"calls={len(calls)} rounds={len(rounds)} "
          f"tokens={sum((c.prompt_tokens or 0) + (c.completion_tokens or 0) for c in calls)}")
