"""The ``noop`` job writes only inside the worker's work folder (TITAN_HOME/work): a payload path
outside it (absolute, ``..``, or through a symlink) fails the job for good with a clear error and
writes nothing. A real ``titan worker --exit-when-idle`` runs the jobs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from tests.conftest import ROOT
from worker import queue
from worker.db.engine import Database


async def test_noop_refuses_paths_outside_its_work_folder(titan_env: dict, db: Database,
                                                          tmp_path: Path) -> None:
    work = Path(titan_env["TITAN_HOME"]) / "work"
    work.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (work / "link").symlink_to(outside)
    bad = [str(outside / "abs.txt"), "../escape.txt", "link/through-symlink.txt", str(work)]
    async with db.session() as session:
        for index, path in enumerate(bad):
            await queue.enqueue(session, queue.NewJob("noop", {"stamp" if index % 2 else "touch":
                                                               path}))
        await queue.enqueue(session, queue.NewJob("noop", {"touch": "inside/ran.txt"}))
    done = subprocess.run([sys.executable, "-m", "worker.cli", "worker", "--exit-when-idle"],
                          env=titan_env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    async with db.session() as session:
        jobs = (await session.execute(text(
            "SELECT payload, status, attempts, last_error FROM jobs ORDER BY id"))).all()
    for payload, status, attempts, error in jobs[:-1]:
        assert status == "dead" and attempts == 1, (payload, status, error)  # no retries
        assert "outside the worker's work folder" in error, error
    assert list(outside.iterdir()) == [] and not (work.parent / "escape.txt").exists()
    assert jobs[-1].status == "succeeded"
    assert len((work / "inside" / "ran.txt").read_text().splitlines()) == 1
