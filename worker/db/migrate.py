"""Apply Alembic migrations programmatically (no alembic.ini needed).

Every Titan process checks the schema at start. When the database is already at the newest
revision (the usual case) that is one query and no Alembic import, which keeps a worker's
start-up short; otherwise Alembic upgrades it under an advisory lock.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

import psycopg

from worker.db.raw import libpq_url
from worker.paths import migrations_dir

if TYPE_CHECKING:
    from alembic.config import Config

# Two processes starting at once (desktop + worker) must not both migrate.
_MIGRATION_LOCK = 7_425_001
_REVISION = re.compile(r"""^revision\s*(?::\s*str\s*)?=\s*['"]([^'"]+)['"]""", re.M)
_DOWN = re.compile(r"""^down_revision\s*(?::[^=]+)?=\s*(.+)$""", re.M)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    if revision == "head" and current_revision(url) == head_revision():
        return
    from alembic import command
    from sqlalchemy import create_engine, pool, text

    cfg = alembic_config(url)
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    # Plain psycopg: this runs at every process start, and SQLAlchemy's import costs more
    # than the query.
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
        if not row or not row[0]:
            return None
        found = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return found[0] if found else None


@lru_cache(maxsize=1)
def head_revision(url: str = "") -> str | None:
    """The newest revision in migrations/versions (the one no other revision builds on),
    read from the files without importing Alembic; a test checks it agrees with Alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in migrations_dir().joinpath("versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        found = _REVISION.search(source)
        if not found:
            continue
        revisions.add(found.group(1))
        down = _DOWN.search(source)
        if down:
            parents.update(re.findall(r"""['"]([^'"]+)['"]""", down.group(1)))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def is_up_to_date(url: str) -> bool:
    return current_revision(url) == head_revision()
