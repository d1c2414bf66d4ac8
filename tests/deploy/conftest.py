from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from worker.db.engine import libpq_url


@pytest.fixture
def web_root() -> Iterator[Path]:
    """A web root anybody may read (as nginx's user must), outside pytest's private tmp."""
    root = Path(tempfile.mkdtemp(prefix="titan-webroot-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def database_text(db_url: str) -> str:
    """Every row a deploy could have written a secret into, as text."""
    with psycopg.connect(libpq_url(db_url)) as conn:
        rows = []
        for table in ("projects", "jobs", "runs", "artifacts", "log_entries"):
            rows += [r[0] for r in conn.execute(f"SELECT t::text FROM {table} t")]
    return "\n".join(rows)


def environment(titan_env: dict, **extra: str) -> dict:
    """The child processes' environment (CLI, worker) with ``extra`` added."""
    return {**titan_env, **extra}
