"""Backup and restore wall time of a Titan database with 100,000 jobs.

    python bench/backup.py [--jobs 100000] [--repeat 3]

Runs on its own embedded PostgreSQL (pgserver) in a temp dir, whatever DATABASE_URL and
TITAN_HOME say, so nothing touches your data. The database gets ``--jobs`` jobs (generate_series;
jsonb payloads, a third of them dead with an error), one run per job and one log line per job:
what a busy installation's history looks like. Then, ``--repeat`` times: ``titan db backup``'s
code path (pg_dump custom format with pgserver's own binaries) and ``titan db restore``'s
(the archive's revision read, the public schema replaced in one psql transaction, migrations
checked). Every restore is verified by row counts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# The repository root instead of bench/ (whose queue.py would shadow the stdlib's).
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import psycopg  # noqa: E402

from bench.common import embedded_server, forget_user_data, header, load_average  # noqa: E402
from worker.config import Settings  # noqa: E402
from worker.db.migrate import upgrade  # noqa: E402
from worker.db.raw import libpq_url  # noqa: E402
from worker.services import backups  # noqa: E402

FILL = """
INSERT INTO projects (name, slug, template_ref, status)
VALUES ('Bench project', 'bench-project', 'persona/basic', 'published');
INSERT INTO jobs (project_id, kind, payload, status, attempts, last_error, finished_at)
SELECT 1, (ARRAY['scaffold', 'build', 'deploy', 'verify', 'publish'])[1 + g % 5],
       jsonb_build_object('step', g % 5, 'note', 'payload of job ' || g, 'tags',
                          jsonb_build_array('a', 'b', g % 7)),
       CASE WHEN g % 3 = 0 THEN 'dead' ELSE 'succeeded' END, 1 + (g % 3 = 0)::int * 2,
       CASE WHEN g % 3 = 0 THEN 'Traceback: step ' || g || ' failed: exit status 1' END,
       now() - make_interval(secs => g)
FROM generate_series(1, %(jobs)s) g;
INSERT INTO runs (job_id, worker_id, attempt, status, error, started_at, finished_at,
                  duration_ms)
SELECT id, 'bench-worker', attempts, CASE WHEN status = 'dead' THEN 'failed' ELSE 'succeeded' END,
       last_error, finished_at - interval '1 second', finished_at, 1000
FROM jobs;
INSERT INTO log_entries (level, message, project_id, job_id, extra)
SELECT 'INFO', 'job ' || kind || ' succeeded', 1, id, jsonb_build_object('duration_ms', 1000)
FROM jobs;
"""
COUNTED = ("jobs", "runs", "log_entries")


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
                for t in COUNTED}


def database_size(url: str) -> int:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    forget_user_data()
    with tempfile.TemporaryDirectory(prefix="titan-bench-backup-") as tmp:
        os.chmod(tmp, 0o755)  # pgserver drops to its own user when run as root
        with embedded_server(Path(tmp) / "server") as url:
            upgrade(url)
            settings = Settings(TITAN_HOME=Path(tmp) / "home", DATABASE_URL=None)
            tools = backups.find_tools(settings, url)
            version = os.popen(f"{tools.path('pg_dump')} --version").read().strip()
            header("Backup and restore (bench/backup.py)", extra=[
                f"database:     embedded PostgreSQL (pgserver), {args.jobs:,} jobs + one run "
                "and one log line each",
                f"tools:        {version} ({tools.bin_dir})",
                f"repeats:      {args.repeat} (median, min, max)"])
            started = time.perf_counter()
            with psycopg.connect(libpq_url(url), autocommit=True) as conn:
                conn.execute(FILL.replace("%(jobs)s", str(int(args.jobs))))  # type: ignore[arg-type]
                conn.execute("VACUUM ANALYZE")
            expected = counts(url)
            print(f"filled in {time.perf_counter() - started:.1f} s: {expected}; database "
                  f"{database_size(url) / 1e6:.1f} MB")

            dump_times: list[float] = []
            restore_times: list[float] = []
            size = 0
            for n in range(args.repeat):
                target = Path(tmp) / f"bench-{n}.dump"
                t0 = time.perf_counter()
                made = backups.back_up_blocking(settings, target, url=url)
                dump_times.append(time.perf_counter() - t0)
                size = made.size
                t0 = time.perf_counter()
                backups.restore(url, made.path, tools)
                restore_times.append(time.perf_counter() - t0)
                got = counts(url)
                assert got == expected, f"restore {n}: {got} != {expected}"
                print(f"round {n + 1}: backup {dump_times[-1]:.2f} s, restore "
                      f"{restore_times[-1]:.2f} s, rows verified")
                target.unlink()

    print()
    print(f"{'':10} {'median':>8} {'min':>8} {'max':>8}")
    for label, values in (("backup", dump_times), ("restore", restore_times)):
        print(f"{label:10} {statistics.median(values):7.2f}s {min(values):7.2f}s "
              f"{max(values):7.2f}s")
    print(f"archive:   {size / 1e6:.1f} MB (pg_dump custom format, compressed)")
    print(f"load average: {load_average()} (1/5/15 min) at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
