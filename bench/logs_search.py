"""Logs text search over a million lines: the first page, in the Logs tab and in GET /api/logs.

    python bench/logs_search.py [--rows 1000000] [--repeat 7] [--servers embedded,server]

Target (issue 19): under 100 ms for the first page. For each PostgreSQL it fills a fresh,
migrated database with ``--rows`` log lines (one INSERT ... generate_series), then times the first
page of several searches twice: without a trigram index, and with the one migration 0008 made
(built again here after the rows are in): pg_trgm's ``ix_log_entries_message_trgm`` where the
server has pg_trgm, else Titan's own ``ix_log_entries_message_3grams`` on
``titan_trigrams(message)`` (the embedded pgserver has no pg_trgm).

- "tab": ``LogService.query(LogFilter(text=...), limit=500)``, what the Logs tab calls.
- "api": ``GET /api/logs?text=...&limit=100`` over loopback HTTP (uvicorn in a thread).

``embedded`` is a throwaway pgserver in a temp dir; ``server`` is BENCH_SERVER_URL or
postgresql://postgres@127.0.0.1:5432 when it answers (a database ``titan_bench_logs`` is made
there and dropped afterwards). DATABASE_URL and TITAN_HOME are ignored: your data is not touched.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.common import database_url, embedded_server, forget_user_data, header, print_table  # noqa: E402

SERVER_URL = os.environ.get("BENCH_SERVER_URL",
                            "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
INDEXES = {
    "pg_trgm": ("ix_log_entries_message_trgm",
                "CREATE INDEX ix_log_entries_message_trgm ON log_entries "
                "USING gin (message gin_trgm_ops)"),
    "titan_trigrams": ("ix_log_entries_message_3grams",
                       "CREATE INDEX ix_log_entries_message_3grams ON log_entries "
                       "USING gin (titan_trigrams(message))"),
}
# (what it is, the text searched, how many of the lines match per million)
SEARCHES = [
    ("rare phrase", "disk full", 10),
    ("1 % of lines", "timed out", 10_000),
    ("20 % of lines", "deploy", 200_000),
    ("an id-like fragment", "5f3a9c", 0),  # a few md5 fragments may match
    ("nowhere", "kaboom", 0),
]
FILL = """
INSERT INTO log_entries (ts, level, logger, message, project_id, job_id, worker_id)
SELECT now() - (%(n)s - i) * interval '10 ms',
       (ARRAY['INFO', 'INFO', 'INFO', 'DEBUG', 'WARNING', 'ERROR'])[1 + i %% 6],
       'titan.worker',
       CASE WHEN i %% 100000 = 0 THEN format('disk full on /var/lib/titan while writing job %%s', i)
            WHEN i %% 100 = 0 THEN format('job %%s timed out after %%s s; retrying', i, i %% 300)
            ELSE format('%%s %%s: step %%s of project proj-%%s took %%s ms (%%s)',
                        (ARRAY['scaffold', 'build', 'deploy', 'verify', 'publish'])[1 + i %% 5],
                        (ARRAY['started', 'finished', 'skipped'])[1 + i %% 3],
                        i %% 5, i %% 997, i %% 5000, md5(i::text))
       END,
       i %% 997, i, 'worker-' || (i %% 8)
FROM generate_series(1, %(n)s) AS i
"""


def sql(url: str, *statements: str, params: dict | None = None) -> None:
    import psycopg

    from worker.db.engine import libpq_url

    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement, params)


def trigram_index(url: str) -> str | None:
    """Which trigram index the migration made: a key of INDEXES, or None."""
    import psycopg

    from worker.db.engine import libpq_url

    with psycopg.connect(libpq_url(url)) as conn:
        names = {r[0] for r in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'log_entries'")}
    return next((kind for kind, (name, _) in INDEXES.items() if name in names), None)


def forget_index_kind() -> None:
    """LogService remembers per database whether it has Titan's own trigram index."""
    from worker.services import logquery

    logquery._uses_own_trigrams.clear()


@contextmanager
def api_server(url: str, home: Path) -> Iterator[str]:
    """``titan api``'s app (create_app) under uvicorn on a free loopback port."""
    import uvicorn

    from worker.api.app import create_app
    from worker.config import Settings
    from worker.ops.canary import free_port

    settings = Settings(database_url=url, titan_home=home, output_dir=None, templates_dir=None)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise SystemExit("the API did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


async def time_tab(url: str, text: str, repeat: int) -> tuple[list[float], int]:
    from worker.db.engine import Database
    from worker.services.logquery import LogFilter, LogService

    db = Database(url)
    service = LogService(db)
    times, found = [], 0
    try:
        await service.query(LogFilter(text="warm the pool"), limit=1)
        for _ in range(repeat):
            start = time.perf_counter()
            found = len(await service.query(LogFilter(text=text), limit=500))
            times.append((time.perf_counter() - start) * 1000)
    finally:
        await db.dispose()
    return times, found


def time_api(base: str, text: str, repeat: int) -> tuple[list[float], int]:
    import httpx

    times, found = [], 0
    with httpx.Client(base_url=base, trust_env=False, timeout=120) as http:
        http.get("/api/logs", params={"limit": 1})
        for _ in range(repeat):
            start = time.perf_counter()
            answer = http.get("/api/logs", params={"text": text, "limit": 100})
            times.append((time.perf_counter() - start) * 1000)
            answer.raise_for_status()
            found = len(answer.json()["items"])
    return times, found


def measure(url: str, home: Path, label: str, repeat: int) -> list[list[object]]:
    rows: list[list[object]] = []
    with api_server(url, home) as base:
        for what, needle, _ in SEARCHES:
            tab, tab_found = asyncio.run(time_tab(url, needle, repeat))
            api, api_found = time_api(base, needle, repeat)
            rows.append([f"{label}: {what} ({needle!r})", tab_found, fmt(tab), api_found,
                         fmt(api)])
    return rows


def fmt(times: list[float]) -> str:
    """median (max) in ms; the first (cold) call is in the max."""
    return f"{statistics.median(times):,.1f} ({max(times):,.1f})"


def run_one(name: str, url: str, rows: int, repeat: int, home: Path) -> None:
    from worker.db.migrate import upgrade

    upgrade(url)
    kind = trigram_index(url)
    print(f"[{name}] migrated; migration 0008's trigram index: {kind or 'NONE'}")
    sql(url, *(f"DROP INDEX IF EXISTS {index}" for index, _ in INDEXES.values()))
    forget_index_kind()
    start = time.perf_counter()
    sql(url, FILL, "VACUUM ANALYZE log_entries", params={"n": rows})
    print(f"[{name}] {rows:,} log lines written and analyzed in "
          f"{time.perf_counter() - start:.1f} s")
    table = measure(url, home, "no index", repeat)
    if kind is not None:
        start = time.perf_counter()
        sql(url, INDEXES[kind][1], "ANALYZE log_entries")
        forget_index_kind()
        print(f"[{name}] {kind} index built in {time.perf_counter() - start:.1f} s")
        table += measure(url, home, kind, repeat)
    print()
    print(f"-- {name}: first page, ms: median (max) of {repeat} --")
    print_table(["search", "tab lines", "tab (limit 500)", "api lines", "api (limit 100)"],
                table)


def reachable(url: str) -> bool:
    import psycopg

    from worker.db.engine import libpq_url

    try:
        psycopg.connect(libpq_url(url), connect_timeout=2).close()
    except psycopg.Error:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--servers", default="embedded,server",
                        help="comma-separated: embedded, server")
    args = parser.parse_args()
    forget_user_data()
    header("Logs text search: first page over log_entries",
           extra=[f"rows:         {args.rows:,}", f"repeat:       {args.repeat}"])
    chosen = [s.strip() for s in args.servers.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="titan-bench-logs-") as tmp:
        if "server" in chosen:
            if reachable(SERVER_URL):
                url = database_url(SERVER_URL, "titan_bench_logs")
                try:
                    run_one("server " + SERVER_URL.split("@")[-1], url, args.rows,
                            args.repeat, Path(tmp) / "home-server")
                finally:
                    sql(SERVER_URL, 'DROP DATABASE IF EXISTS "titan_bench_logs" WITH (FORCE)')
            else:
                print(f"[server] {SERVER_URL} does not answer: skipped")
        if "embedded" in chosen:
            with embedded_server(Path(tmp) / "pg") as server:
                url = database_url(server, "titan_bench_logs")
                run_one("embedded pgserver", url, args.rows, args.repeat,
                        Path(tmp) / "home-embedded")


if __name__ == "__main__":
    main()
