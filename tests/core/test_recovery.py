"""The embedded PostgreSQL is SIGKILLed (as an OOM kill would) under a running headless worker:
the worker starts it again and finishes a job enqueued after the kill. Real pgserver, real
worker process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import spawn_worker
from worker.sitehost import stop_site_host

# Real processes over tens of seconds: part of the fault suite (-m 'not slow' leaves it out).
pytestmark = pytest.mark.slow


def postmaster(pgdata: Path) -> tuple[int, str] | None:
    """(pid, URL) of the running embedded server, read as pgserver does; None while down."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(pgdata)
    except AssertionError:  # the file is being written (or initdb's single-user backend)
        return None
    if info is None or not info.is_running() or info.status != "ready":
        return None
    return int(info.pid), info.get_uri()


def wait_for(check, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except psycopg.Error:  # not up, or not migrated yet
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def query(url: str, sql: str, params: tuple = ()) -> object:
    with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
        row = conn.execute(sql, params).fetchone()
    return row[0] if row else None


@pytest.fixture
def embedded_home() -> Iterator[Path]:
    """A TITAN_HOME outside pytest's temp root: run as root, pgserver runs PostgreSQL as its
    own user, and pytest resets /tmp/pytest-of-<user> to mode 0700 whenever a session starts."""
    home = Path(tempfile.mkdtemp(prefix="titan-embedded-"))
    os.chmod(home, 0o755)
    yield home
    stop_site_host(home)  # a published project's host must not outlive the test
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def embedded_env(titan_env: dict, embedded_home: Path) -> dict:
    env = {k: v for k, v in titan_env.items() if k != "DATABASE_URL"}
    env["TITAN_HOME"] = str(embedded_home)
    return env


def test_a_worker_restarts_the_killed_embedded_server_and_keeps_working(embedded_env: dict
                                                                        ) -> None:
    pgdata = Path(embedded_env["TITAN_HOME"]) / "pgdata"
    worker = spawn_worker(embedded_env, "--concurrency", "2")
    try:
        pid, url = wait_for(lambda: postmaster(pgdata), 90, "the embedded server")
        wait_for(lambda: query(url, "SELECT count(*) FROM workers WHERE status = 'running'"),
                 60, "the worker's heartbeat")

        os.kill(pid, signal.SIGKILL)
        _new_pid, new_url = wait_for(
            lambda: (p := postmaster(pgdata)) and p[0] != pid and p, 60, "a new postmaster")
        assert new_url == url  # same socket: every process reconnects to what it knew
        job = wait_for(lambda: query(url, "INSERT INTO jobs (kind, payload) VALUES "
                                          "('noop', %s) RETURNING id", (json.dumps({}),)),
                       30, "a connection to the restarted server")
        wait_for(lambda: query(url, "SELECT status = 'succeeded' FROM jobs WHERE id = %s",
                               (job,)), 60, "the worker to run the new job")
    finally:
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=60)[0]
    assert worker.returncode == 0, output[-3000:]
    assert "embedded PostgreSQL had stopped; restarted it" in output
