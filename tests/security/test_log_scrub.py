"""Secrets never reach a log line, whatever characters they hold: the scrubber runs on raw
values before JSON encoding, so a secret with a quote, a backslash or a newline (which JSON
escapes) is still caught. Checked on a real ``titan worker`` (stdout and ``log_entries``)."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

import pytest
from sqlalchemy import text

from tests.conftest import ROOT
from worker import queue
from worker.db.engine import Database
from worker.logs import DatabaseLogSink, configure_logging, get_logger

SECRETS = {
    "OPS_TOKEN": 'quo"te-secret-4821',
    "GITHUB_TOKEN": "back\\slash-secret-9931",
    "STRIPE_API_KEY": "new\nline-secret-5512",
    "OPS_APPROVER_TOKEN": "tab\tand\u00e9-secret-7740",
}
# What would be left of each secret if it leaked in any form (raw, JSON-escaped, ASCII-escaped).
TAILS = ["te-secret-4821", "slash-secret-9931", "line-secret-5512", "-secret-7740"]


def _assert_clean(where: str, content: str) -> None:
    for tail in TAILS:
        assert tail not in content, f"a secret ending {tail!r} leaked into {where}"


async def test_a_worker_logs_no_secret_with_quotes_backslashes_or_newlines(
        titan_env: dict, db: Database) -> None:
    values = list(SECRETS.values())
    # Raw, and already JSON-encoded text; the newline one last (an error keeps its first line).
    message = ("failing with " + " and ".join(v for v in values if "\n" not in v) + " and "
               + json.dumps(values) + " and " + SECRETS["STRIPE_API_KEY"])
    async with db.session() as session:
        await queue.enqueue(session, queue.NewJob("fail", {"message": message}, max_attempts=1))
    done = subprocess.run([sys.executable, "-m", "worker.cli", "worker", "--exit-when-idle",
                           "--log-format", "json"], env={**titan_env, **SECRETS}, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]  # still valid JSON lines
    failure = next(line for line in lines if "failed for good" in line["message"])
    assert failure["message"].count("***") >= 2 * len(SECRETS) - 1, failure
    _assert_clean("the worker's stdout", done.stdout + done.stderr)
    async with db.session() as session:
        rows = (await session.execute(text(
            "SELECT message, extra::text FROM log_entries"))).all()
    assert any("failed for good" in message for message, _ in rows)
    _assert_clean("log_entries", " ".join(f"{m} {e}" for m, e in rows))


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_fields_and_exceptions_are_scrubbed_before_encoding(log_format: str) -> None:
    stream = io.StringIO()
    sink = DatabaseLogSink()
    configure_logging("INFO", stream=stream, secrets=list(SECRETS.values()),
                      log_format=log_format)
    root = logging.getLogger()
    root.addHandler(sink)
    try:
        values = list(SECRETS.values())
        get_logger("titan.test").warning(
            f"message {values[0]}", token=values[1],
            nested={"list": [values[2], {"key": values[3]}], values[0]: "as a key"},
            error=RuntimeError(f"boom {values[1]}"))
    finally:
        root.removeHandler(sink)
        for handler in list(root.handlers):
            if getattr(handler, "_titan_stream", False):
                handler.close()
                root.removeHandler(handler)
    written = stream.getvalue()
    assert "***" in written and "message" in written
    _assert_clean(f"the {log_format} stdout line", written)
    (row,) = sink.drain()  # exactly what goes into log_entries
    _assert_clean("a log_entries row", " ".join(str(v) for v in row))
    assert json.loads(row[8])["token"] == "***"
