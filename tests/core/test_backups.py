"""Backups with the real pg_dump, pg_restore and psql: ``titan db backup`` / ``titan db restore``
round trips compare every table row for row, on the 127.0.0.1:5432 server (its own client
programs) and on an embedded pgserver (pgserver's); a newer schema's file is refused before
anything changes; retention prunes; the daily backup is made once a day, by one worker."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.conftest import ROOT, TemplateDatabases, _fresh_database, titan
from tests.helpers import wait_until_blocking
from worker.config import Settings
from worker.db.raw import libpq_url
from worker.services import backups

# A few rows in every table, with what a dump must carry exactly: non-ASCII text, tabs,
# newlines, backslashes, quotes, NULLs, jsonb, numerics, timestamps, and 500 jobs.
FILL = r"""
INSERT INTO projects (name, slug, template_ref, spec, status, flags, price_minor, awaiting_since)
VALUES ('Café ☕', 'cafe', 'persona/basic', '{"features": ["a\tb", "line\nbreak"]}',
        'published', '["pinned"]', 1999, now() - interval '3 days'),
       (E'Back\\slash "quoted"\ttab', 'quoted', 'python/cli', '{}', 'failed', '[]', NULL, NULL);
INSERT INTO plan_items (project_id, kind, title, position)
SELECT id, 'feature', 'Feature of ' || name, 1 FROM projects;
INSERT INTO plan_items (project_id, parent_id, kind, title, done, done_at)
SELECT project_id, id, 'goal', E'Goal\nwith a line break', true, now() FROM plan_items;
INSERT INTO ops_changes (title, patches, status, diff)
VALUES ('Docs', '[{"path": "docs/a.md", "content": "x\n"}]', 'proposed', E'--- a\n+++ b\n');
INSERT INTO approvals (project_id, decided_by, decision, comment)
SELECT id, 'person', 'approved', E'ok\nfine' FROM projects WHERE slug = 'cafe';
INSERT INTO approvals (ops_change_id, decided_by, decision) SELECT id, 'api', 'rejected'
FROM ops_changes;
INSERT INTO jobs (project_id, kind, payload, status, priority, last_error)
SELECT (SELECT id FROM projects WHERE slug = 'cafe'), 'scaffold', jsonb_build_object('n', g),
       CASE WHEN g % 3 = 0 THEN 'dead' ELSE 'queued' END, g % 5,
       CASE WHEN g % 3 = 0 THEN 'boom ' || g END
FROM generate_series(1, 500) g;
INSERT INTO runs (job_id, worker_id, attempt, status, error, duration_ms)
SELECT id, 'w-1', 1, 'failed', 'boom', 1.5 FROM jobs WHERE status = 'dead';
INSERT INTO artifacts (project_id, job_id, kind, name, path, size_bytes, sha256)
SELECT project_id, id, 'file', 'page-' || id || '.html', '/srv/x', 12, repeat('a', 64)
FROM jobs ORDER BY id LIMIT 3;
INSERT INTO log_entries (level, message, project_id, extra)
VALUES ('INFO', E'first\nsecond', 1, '{"k": "v"}'), ('ERROR', 'ünïcode', NULL, '{}');
INSERT INTO workers (id, host, pid, version, status, last_heartbeat)
VALUES ('w-1', 'box', 42, '1.0', 'stopped', now() - interval '1 day');
INSERT INTO orders (project_id, amount_minor, currency, external_id, customer_name)
SELECT id, 1999, 'EUR', 'ext-' || id, 'Zoë' FROM projects;
INSERT INTO ai_calls (project_id, purpose, model, endpoint, prompt_tokens, cost)
VALUES (1, 'plan', 'tiny', 'http://127.0.0.1:1/v1', 10, 0.000123);
INSERT INTO ai_rounds (project_id, loop_id, purpose, round, max_rounds, check_summary, passed)
VALUES (1, 'loop1', 'build', 1, 3, 'tests failed', false);
"""
FILLED = ("projects", "plan_items", "ops_changes", "approvals", "jobs", "runs", "artifacts",
          "log_entries", "workers", "orders", "ai_calls", "ai_rounds", "alembic_version")


def snapshot(url: str) -> dict[str, list[str]]:
    """Every table in ``public`` (from information_schema), its rows as text, sorted; and
    every sequence's position (so rows inserted after a restore get fresh ids)."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_type = 'BASE TABLE' ORDER BY table_name")]
        found = {table: sorted(str(row[0]) for row in conn.execute(
            f'SELECT t::text FROM public."{table}" t')) for table in tables}
        sequences = conn.execute(
            "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public' "
            "ORDER BY 1").fetchall()
    found["(sequences)"] = [f"{name}={value}" for name, value in sequences]
    return found


def execute(url: str, sql: str) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]  (our own test SQL, several statements)


def assert_same(before: dict[str, list[str]], after: dict[str, list[str]]) -> None:
    assert sorted(after) == sorted(before), "the restored database has other tables"
    for table, rows in before.items():
        assert after[table] == rows, f"{table} differs after the restore"


def settings_for(url: str, home: Path, *, embedded: bool) -> Settings:
    """Settings as a process on this database would have them. Embedded: no DATABASE_URL, so
    the backup service picks pgserver's binaries; the URL itself is handed over directly."""
    if embedded:
        return Settings(TITAN_HOME=home, DATABASE_URL=None)
    return Settings(TITAN_HOME=home, DATABASE_URL=libpq_url(url))


def test_round_trip_through_the_cli_on_the_server_compares_every_table(
        titan_env: dict, db_url: str, tmp_path: Path) -> None:
    """``titan db backup FILE``, changes, ``titan db restore FILE``: every row is back, and
    an extension with an index on it (pg_trgm, as a trigram log search would add) too."""
    execute(db_url, FILL)
    execute(db_url, "CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE INDEX ix_log_trgm ON "
                    "log_entries USING gin (message gin_trgm_ops)")
    before = snapshot(db_url)
    assert all(before[table] for table in FILLED), [t for t in FILLED if not before[t]]

    file = tmp_path / "titan.dump"
    made = titan(titan_env, "db", "backup", str(file))
    assert made.returncode == 0, made.stderr
    assert f"to {file}" in made.stdout

    # What a bad day does: rows gone, rows changed, rows added.
    execute(db_url, "DELETE FROM projects WHERE slug = 'quoted'; UPDATE jobs SET status = "
                    "'cancelled'; INSERT INTO workers (id, host, pid, version, status) VALUES "
                    "('w-2', 'other', 7, '2.0', 'stopped'); DELETE FROM log_entries;")
    assert snapshot(db_url) != before

    restored = titan(titan_env, "db", "restore", str(file))
    assert restored.returncode == 0, restored.stderr
    assert "restored" in restored.stdout and "revision" in restored.stdout
    assert_same(before, snapshot(db_url))
    with psycopg.connect(libpq_url(db_url)) as conn:
        assert conn.execute("SELECT to_regclass('ix_log_trgm') IS NOT NULL").fetchone() == (True,)
    # The restored sequences hand out fresh ids.
    execute(db_url, "INSERT INTO projects (name, slug, template_ref) VALUES ('New', 'new', 'x')")


def test_round_trip_into_another_database(any_db_url: str, tmp_path: Path,
                                          request: pytest.FixtureRequest) -> None:
    """A backup of one database restored over a different one (its own rows, one table too
    many) leaves an exact copy; pg_dump/pg_restore/psql are pgserver's for the embedded
    database and the server's for 127.0.0.1:5432."""
    source = any_db_url
    embedded = request.node.callspec.params["any_db_url"] == "embedded"
    settings = settings_for(source, tmp_path / "home", embedded=embedded)
    tools = backups.find_tools(settings, source)
    if embedded:
        assert "pgserver" in str(tools.bin_dir)
    execute(source, FILL)
    before = snapshot(source)
    file = backups.dump(source, tmp_path / "a.dump", tools)
    assert file.size > 0

    # The target: the same server, another database, other rows and a stray table.
    target = _sibling_database(source)
    try:
        execute(target, "INSERT INTO workers (id, host, pid, version) VALUES "
                        "('x', 'y', 1, 'z'); CREATE TABLE stray (id int);")
        revision = backups.restore(target, file.path, tools)
        assert revision == backups.archive_revision(file.path, tools)
        assert_same(before, snapshot(target))
    finally:
        _drop_database(source, target)


def _sibling_database(url: str) -> str:
    from sqlalchemy import make_url

    from worker.db.migrate import upgrade

    parsed = make_url(url)
    name = f"{parsed.database}_copy"
    execute(parsed.set(database="postgres").render_as_string(hide_password=False),
            f'CREATE DATABASE "{name}"')
    copy = parsed.set(database=name).render_as_string(hide_password=False)
    upgrade(copy)
    return copy


def _drop_database(url: str, other: str) -> None:
    from sqlalchemy import make_url

    admin = make_url(url).set(database="postgres").render_as_string(hide_password=False)
    execute(admin, f'DROP DATABASE IF EXISTS "{make_url(other).database}" WITH (FORCE)')


def test_a_newer_schema_is_refused_and_nothing_changes(titan_env: dict, db_url: str,
                                                       tmp_path: Path) -> None:
    execute(db_url, FILL)
    execute(db_url, "UPDATE alembic_version SET version_num = '0099_from_the_future'")
    file = tmp_path / "newer.dump"
    assert titan(titan_env, "db", "backup", str(file)).returncode == 0
    execute(db_url, "UPDATE alembic_version SET version_num = "
                    f"'{_head()}'; DELETE FROM orders; DELETE FROM jobs WHERE status = 'dead'")
    before = snapshot(db_url)

    refused = titan(titan_env, "db", "restore", str(file))
    assert refused.returncode == 1
    message = refused.stderr
    assert "comes from a newer Titan" in message, message
    assert "revision 0099_from_the_future" in message and "Upgrade Titan" in message
    assert "nothing was changed" in message
    assert snapshot(db_url) == before


def test_a_cut_off_archive_fails_and_leaves_the_database_as_it_was(db_url: str,
                                                                     tmp_path: Path) -> None:
    """The archive's head (its table of contents, the schema revision) reads fine, the data
    ends early: pg_restore fails part way through the script, nothing is committed."""
    settings = settings_for(db_url, tmp_path / "home", embedded=False)
    tools = backups.find_tools(settings, db_url)
    execute(db_url, FILL)
    # Enough data that the archive is mostly data after its table of contents (~0.6 MB).
    execute(db_url, "INSERT INTO log_entries (level, message) SELECT 'INFO', md5(g::text) || "
                    "md5((g * 7)::text) FROM generate_series(1, 20000) g")
    whole = backups.dump(db_url, tmp_path / "whole.dump", tools).path
    cut = tmp_path / "cut.dump"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) - 100_000])  # a copy that stopped early (a full disk)
    assert backups.archive_revision(cut, tools) == _head()  # the check before it passes
    execute(db_url, "DELETE FROM jobs WHERE status = 'dead'; DELETE FROM orders")
    before = snapshot(db_url)
    with pytest.raises(backups.BackupError) as failed:
        backups.restore(db_url, cut, tools)
    assert "the database was not changed" in str(failed.value)
    assert snapshot(db_url) == before


def _head() -> str:
    from worker.db.migrate import head_revision

    head = head_revision()
    assert head
    return head


def test_restore_refuses_while_a_worker_runs_and_names_it(titan_env: dict, db_url: str,
                                                          tmp_path: Path) -> None:
    file = tmp_path / "a.dump"
    assert titan(titan_env, "db", "backup", str(file)).returncode == 0
    execute(db_url, "INSERT INTO workers (id, host, pid, version, status, last_heartbeat) "
                    "VALUES ('busy', 'build-box', 4242, '1.0', 'running', now())")
    refused = titan(titan_env, "db", "restore", str(file))
    assert refused.returncode == 1
    assert "1 worker(s) are running" in refused.stderr and "build-box pid 4242" in refused.stderr
    assert "--force" in refused.stderr
    forced = titan(titan_env, "db", "restore", str(file), "--force")
    assert forced.returncode == 0, forced.stderr
    assert "busy" not in str(snapshot(db_url)["workers"])  # the backup's rows, not today's


def test_not_a_backup_and_a_missing_file_are_said_plainly(titan_env: dict, tmp_path: Path
                                                          ) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello\n")
    bad = titan(titan_env, "db", "restore", str(junk))
    assert bad.returncode == 1
    assert "is it a backup made by titan db backup?" in bad.stderr, bad.stderr
    missing = titan(titan_env, "db", "restore", str(tmp_path / "nope.dump"))
    assert missing.returncode == 1 and "no such file" in missing.stderr


def test_a_password_never_reaches_a_command_line_or_the_message(tmp_path: Path) -> None:
    """The password goes in PGPASSWORD; a failing pg_dump's message does not carry it."""
    url = "postgresql+psycopg://titan:s3cret-pass-9911@127.0.0.1:5432/no_such_db_here"
    dsn, env = backups._connection(url)
    assert "s3cret" not in dsn and env["PGPASSWORD"] == "s3cret-pass-9911"
    settings = Settings(TITAN_HOME=tmp_path, DATABASE_URL=url,
                        TITAN_PG_BIN="/usr/lib/postgresql/15/bin")
    with pytest.raises(backups.BackupError) as failed:
        backups.back_up_blocking(settings, tmp_path / "x.dump")
    assert "s3cret" not in str(failed.value)
    assert "pg_dump failed" in str(failed.value)
    assert not list(tmp_path.glob("*.partial")) and not (tmp_path / "x.dump").exists()


def test_retention_keeps_the_newest(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    day = datetime(2026, 12, 1, 3, 0, 0)
    for n in range(10):
        backups.new_backup_path(folder, day + timedelta(days=n)).write_bytes(b"x" * n)
    (folder / "my-own-copy.dump").write_bytes(b"mine")  # not Titan's: never pruned
    removed = backups.prune(folder, 3)
    assert len(removed) == 7
    left = sorted(p.name for p in folder.iterdir())
    assert left == ["my-own-copy.dump", "titan-2026-12-08-030000.dump",
                    "titan-2026-12-09-030000.dump", "titan-2026-12-10-030000.dump"]


@pytest.fixture
def embedded_db_url(embedded_admin_url: str, template_databases: TemplateDatabases
                    ) -> Iterator[str]:
    """A fresh migrated database on the session's embedded pgserver."""
    yield from _fresh_database(embedded_admin_url, template_databases)


@pytest.fixture
def embedded_home() -> Iterator[Path]:
    """A TITAN_HOME whose embedded database the processes started here create (outside
    pytest's temp root: pgserver runs PostgreSQL as its own user; see tests/conftest.py)."""
    home = Path(tempfile.mkdtemp(prefix="titan-test-backups-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


def embedded_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TITAN_BACKUP",
                                                            "TITAN_BACKUP_KEEP")}
    return {**env, "TITAN_HOME": str(home), "PYTHONUNBUFFERED": "1", **extra}


def test_daily_backup_is_made_once_a_day_by_one_of_several_workers(
        embedded_home: Path, embedded_db_url: str) -> None:
    """Two calls at once (two workers' checks): one backup. Again today: none. Yesterday's
    only: a new one. Retention applies. Runs on the session's embedded database."""
    settings = Settings(TITAN_HOME=embedded_home, DATABASE_URL=None, TITAN_BACKUP_KEEP=2)
    folder = backups.backups_dir(settings)

    async def twice() -> list[backups.BackupFile | None]:
        return list(await asyncio.gather(backups.daily_backup(settings, embedded_db_url),
                                         backups.daily_backup(settings, embedded_db_url)))

    made = asyncio.run(twice())
    assert len([m for m in made if m is not None]) == 1
    assert len(backups.list_backups(folder)) == 1
    assert asyncio.run(backups.daily_backup(settings, embedded_db_url)) is None

    today = backups.list_backups(folder)[0].path
    for days in (3, 2, 1):  # the backups of the last days, none of today's
        earlier = datetime.now() - timedelta(days=days)
        shutil.copy(today, backups.new_backup_path(folder, earlier))
    today.unlink()
    fresh = asyncio.run(backups.daily_backup(settings, embedded_db_url))
    assert fresh is not None
    kept = [b.path for b in backups.list_backups(folder)]
    assert kept[0] == fresh.path and len(kept) == 2  # TITAN_BACKUP_KEEP=2
    assert backups.archive_revision(fresh.path, backups.find_tools(settings, "")) == _head()


def test_a_worker_on_the_embedded_database_makes_the_daily_backup(embedded_home: Path) -> None:
    """The real thing: ``titan worker`` on a fresh embedded home backs it up into
    TITAN_HOME/backups; the settings' status shows it; the file restores."""
    env = embedded_env(embedded_home)
    worker = subprocess.Popen([sys.executable, "-m", "worker.cli", "worker"], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    folder = embedded_home / "backups"
    try:
        wait_until_blocking(lambda: backups.list_backups(folder), 120, "the daily backup",
                            give_up=lambda: None if worker.poll() is None else "worker exited")
    finally:
        worker.terminate()
        output, _ = worker.communicate(timeout=60)
    assert "backed up the database to" in output, output
    shown = backups.status(Settings(TITAN_HOME=embedded_home, DATABASE_URL=None))
    assert shown.latest is not None and shown.latest.size > 0 and shown.error is None

    restored = titan(env, "db", "restore", str(shown.latest.path))
    assert restored.returncode == 0, restored.stderr
    assert "into the embedded database" in restored.stdout


def test_a_failed_daily_backup_is_logged_as_an_error_and_shown(tmp_path: Path,
                                                               embedded_db_url: str) -> None:
    """pg_dump that cannot run: an error log line with event backup.failed, the status says
    so, and the next try waits an hour (one error an hour, not one a check)."""
    broken = tmp_path / "bin"
    broken.mkdir()
    for name in ("pg_dump", "pg_restore", "psql"):
        tool = broken / name
        tool.write_text("#!/bin/sh\necho 'pg_dump: error: disk quota exceeded' >&2\nexit 1\n")
        tool.chmod(0o755)
    settings = Settings(TITAN_HOME=tmp_path / "home", DATABASE_URL=None, TITAN_PG_BIN=str(broken))
    records: list[dict] = []

    import logging

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append({"level": record.levelname, "message": record.getMessage(),
                            **getattr(record, "titan_fields", {})})

    catcher = Catch()
    logging.getLogger("titan.backups").addHandler(catcher)
    try:
        assert asyncio.run(backups.daily_backup(settings, embedded_db_url)) is None
    finally:
        logging.getLogger("titan.backups").removeHandler(catcher)
    (failure,) = records
    assert failure["level"] == "ERROR" and failure["event"] == backups.BACKUP_FAILED
    assert "disk quota exceeded" in failure["message"]
    shown = backups.status(settings)
    assert shown.latest is None and shown.failed_at is not None
    assert "disk quota exceeded" in (shown.error or "")
    assert not backups.due(backups.backups_dir(settings))  # an hour's pause
    later = datetime.now() + timedelta(hours=2)
    assert backups.due(backups.backups_dir(settings), later)
    saved = json.loads((backups.backups_dir(settings) / backups.LAST_ATTEMPT).read_text())
    assert saved["ok"] is False


def test_a_workers_failed_daily_backup_is_an_error_line_alerts_can_find(embedded_home: Path,
                                                                        tmp_path: Path) -> None:
    """A real worker whose pg_dump fails: its output has an ERROR line whose extra fields hold
    ``event: backup.failed`` (the same fields as log_entries.extra), and it keeps running."""
    broken = tmp_path / "bin"
    broken.mkdir()
    for name in ("pg_dump", "pg_restore", "psql"):
        (broken / name).write_text("#!/bin/sh\necho 'pg_dump: error: permission denied' >&2\n"
                                   "exit 1\n")
        (broken / name).chmod(0o755)
    env = embedded_env(embedded_home, TITAN_PG_BIN=str(broken))
    worker = subprocess.Popen([sys.executable, "-m", "worker.cli", "worker", "--log-format",
                               "json"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    attempt = embedded_home / "backups" / backups.LAST_ATTEMPT
    try:
        wait_until_blocking(attempt.exists, 120, "the failed backup's record",
                            give_up=lambda: None if worker.poll() is None else "worker exited")
        assert worker.poll() is None  # the worker goes on
    finally:
        worker.terminate()
        output, _ = worker.communicate(timeout=60)
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    (failed,) = [line for line in lines
                 if line.get("extra", {}).get("event") == backups.BACKUP_FAILED]
    assert failed["level"] == "ERROR", failed
    assert "permission denied" in failed["message"]
    assert backups.list_backups(embedded_home / "backups") == []
