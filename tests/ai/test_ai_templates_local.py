"""The built-in templates with the REAL local model (SmolLM2-135M via llama.cpp, the ai-local
extra): a real worker with TITAN_AI_BUILDS=on starts the model itself, as on a fresh clone. The
model is tiny, so its quality is not asserted: each project reaches a terminal state
(``published``, or ``failed`` with a stated reason), everything the model wrote is inside the
project's workspace, and every call is in the ledger under the project and its job."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ai.conftest import child_env
from tests.conftest import titan
from worker import sandbox
from worker.ai.local import local_unavailable_reason
from worker.db.engine import Database
from worker.services.ai_calls import list_calls
from worker.services.ai_rounds import list_rounds
from worker.templatekit.services import stop_all_services

pytestmark = [
    pytest.mark.skipif(local_unavailable_reason() is not None,
                       reason=f"the ai-local extra is not installed: {local_unavailable_reason()}"),
    pytest.mark.skipif(sandbox.bwrap_problem() is not None,
                       reason=f"no sandbox here: {sandbox.bwrap_problem()}"),
]

CASES = {
    "python/cli": ["--description", "Converts Celsius to Fahrenheit", "--feature", "convert"],
    "persona/basic": ["--description", "A reading list for busy people", "--feature",
                      "Reminders"],
    "fastapi/service": ["--description", "A REST service for a reading list of books",
                        "--feature", "books"],
}


@pytest.fixture(autouse=True)
def _stop_services(titan_env: dict) -> Iterator[None]:
    yield  # a published fastapi/service keeps running until stopped
    stop_all_services(Path(titan_env["TITAN_HOME"]))


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
@pytest.mark.parametrize("ref", list(CASES))
def test_a_template_with_the_local_model_ends_in_a_terminal_state(
        titan_env: dict, db_url: str, ref: str) -> None:
    env = child_env(titan_env, TITAN_AI_BUILDS="on", TITAN_AI_REPAIR_ROUNDS="1",
                    TITAN_AI_TIMEOUT_SECONDS="600")
    slug = "local-" + ref.split("/")[0]
    created = titan(env, "project", "create", slug, "--template", ref, *CASES[ref])
    assert created.returncode == 0, created.stderr
    worker = titan(env, "worker", "--exit-when-idle", timeout=1800)
    assert worker.returncode == 0, worker.stdout[-3000:] + worker.stderr[-3000:]

    shown = titan(env, "project", "show", slug, "--json")
    project = json.loads(shown.stdout)
    assert project["status"] in ("published", "failed")
    if project["status"] == "failed":
        assert project["lastError"], "failed without a stated reason"
    calls, rounds = _ledger(db_url, project["id"])
    scaffold = next(j for j in project["jobs"] if j["kind"] == "scaffold")
    assert calls, "no call of the model is in the ledger"
    assert {(c.project_id, c.job_id) for c in calls} == {(project["id"], scaffold["id"])}
    assert all(c.purpose.split(" ")[0] in ("code", "content") for c in calls)
    for r in rounds:
        assert (r.project_id, r.job_id) == (project["id"], scaffold["id"])
    # Everything the model wrote is inside the project's workspace.
    home = Path(env["TITAN_HOME"])
    workdir = (home / "work" / slug).resolve()
    record = home / "projects" / ".ai-builds" / f"{slug}.json"
    if record.is_file():
        for rel in json.loads(record.read_text())["files"]:
            assert (workdir / rel).resolve().is_relative_to(workdir), rel
    # No file of the workspace is a link out of it.
    outside = [p for p in (workdir / "src").rglob("*")
               if not p.resolve().is_relative_to(workdir)]
    assert outside == []
    print(f"{ref}: {project['status']} {project.get('lastError') or ''} "
          f"calls={len(calls)} rounds={len(rounds)} "
          f"tokens={sum((c.prompt_tokens or 0) + (c.completion_tokens or 0) for c in calls)}")
