# ruff: noqa: E402  (sys.path must be fixed before the imports)
"""Create-to-published time of ``persona/basic`` projects, one at a time and 100 at once.

    python bench/pipeline.py [--single 10] [--burst 100] [--concurrency 4]

A fresh embedded PostgreSQL (pgserver) and TITAN_HOME in a temp dir; one real worker process
(``python -m worker.cli worker --concurrency N``) started first and left idle; projects are
created through ``ProjectService.create`` (what the CLI, API, GUI and Jason call).

Times come from the database clock, per project: ``published_at - created_at`` (the create
transaction's start to the publish step's transaction). Single: each project is created only
after the previous one is published (median of --single). Burst: --burst projects are created
back to back, then the wall time is from the first ``created_at`` to the last ``published_at``.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import tempfile
import time

from sqlalchemy import text

from bench.common import (
    embedded_server,
    forget_user_data,
    header,
    load_average,
    pct,
    print_table,
)

TERMINAL = ("published", "failed", "cancelled", "rejected")


async def _wait_terminal(db: object, ids: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with db.session() as s:  # type: ignore[attr-defined]
            left = (await s.execute(text(
                "SELECT count(*) FROM projects WHERE id = ANY(:ids) AND status <> ALL(:done)"),
                {"ids": ids, "done": list(TERMINAL)})).scalar()
        if left == 0:
            return
        await asyncio.sleep(0.1)
    raise SystemExit(f"projects not finished after {timeout:.0f} s")


async def _durations(db: object, ids: list[int]) -> list[tuple[str, float, float, float]]:
    """(status, created epoch, published epoch, seconds) per project."""
    async with db.session() as s:  # type: ignore[attr-defined]
        rows = (await s.execute(text(
            "SELECT status, extract(epoch FROM created_at) AS c, "
            "extract(epoch FROM published_at) AS p FROM projects WHERE id = ANY(:ids)"),
            {"ids": ids})).all()
    bad = [r.status for r in rows if r.status != "published"]
    if bad:
        raise SystemExit(f"{len(bad)} projects did not publish: {sorted(set(bad))}")
    return [(r.status, float(r.c), float(r.p), float(r.p) - float(r.c)) for r in rows]


async def run(args: argparse.Namespace) -> None:
    header("Pipeline: persona/basic, create -> published", extra=[
        f"single: {args.single} projects one after another; burst: {args.burst} at once; "
        f"worker: one process, --concurrency {args.concurrency}"])
    with tempfile.TemporaryDirectory(prefix="titan-bench-pipeline-") as tmp_name, \
            contextlib.ExitStack() as stack:
        tmp = Path(tmp_name)
        url = stack.enter_context(embedded_server(tmp / "server"))
        from worker.db.engine import libpq_url

        os.environ.update({"DATABASE_URL": libpq_url(url), "TITAN_HOME": str(tmp / "home"),
                           "TITAN_REQUIRE_APPROVAL": "false"})
        from worker.bootstrap import open_database
        from worker.config import get_settings
        from worker.services.projects import ProjectService

        settings = get_settings()
        db = await open_database(settings)
        service = ProjectService.from_settings(db, settings)
        worker = subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "worker", "--concurrency", str(args.concurrency)],
            cwd=ROOT, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            warm = await service.create({"name": "Warm up", "template_ref": "persona/basic"})
            await _wait_terminal(db, [warm.id], 300)
            single = []
            for i in range(args.single):
                project = await service.create({"name": f"Single {i}",
                                                "template_ref": "persona/basic"})
                await _wait_terminal(db, [project.id], 300)
                single += await _durations(db, [project.id])
                print(f"  single {i + 1}/{args.single}: {single[-1][3]:.2f} s", flush=True)
            print(f"burst of {args.burst}, load average {load_average()}", flush=True)
            ids = []
            for i in range(args.burst):
                project = await service.create({"name": f"Burst {i}",
                                                "template_ref": "persona/basic"})
                ids.append(project.id)
            await _wait_terminal(db, ids, 1800)
            burst = await _durations(db, ids)
        finally:
            worker.terminate()
            worker.wait(timeout=60)
            await db.dispose()
            from worker.sitehost import stop_site_host

            stop_site_host(settings.titan_home)  # the deploy step started it
    seconds = [d[3] for d in single]
    per = [d[3] for d in burst]
    wall = max(d[2] for d in burst) - min(d[1] for d in burst)
    print()
    print_table(["measure", "value"], [
        [f"single project, median of {len(seconds)}", f"{statistics.median(seconds):.2f} s"],
        ["  min / max", f"{min(seconds):.2f} / {max(seconds):.2f} s"],
        [f"{args.burst} projects at once, wall (first create -> last publish)", f"{wall:.1f} s"],
        ["  projects per minute", f"{len(burst) / wall * 60:.1f}"],
        ["  per project p50", f"{pct(per, 50):.1f} s"],
        ["  per project p95", f"{pct(per, 95):.1f} s"],
        ["  per project max", f"{max(per):.1f} s"],
    ])
    print(f"load average at end {load_average()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--single", type=int, default=10)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    forget_user_data()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
