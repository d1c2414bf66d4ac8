"""Logs text search: a pg_trgm GIN index on log_entries.message (issue 19, the logs benchmark)

The Logs tab, ``titan logs --grep`` and ``GET /api/logs`` search with ``message ILIKE '%text%'``.
Unindexed, that reads every row (224 ms over a million lines); a trigram GIN index answers it
for patterns of three characters or more.

``pg_trgm`` ships with PostgreSQL's contrib modules (Debian's ``postgresql-15`` has it) but NOT
with the embedded server (pgserver's build carries only plpgsql and pgvector). Where the
extension cannot be created, the migration creates neither it nor the index and logs why: the
search still works, as the sequential scan it was before.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-07 09:40:00
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0006'
branch_labels = None
depends_on = None

INDEX = 'ix_log_entries_message_trgm'
log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    bind = op.get_bind()
    available = bind.execute(sa.text(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'")).scalar()
    if not available:
        log.warning("pg_trgm is not available on this PostgreSQL server: log text search "
                    "stays unindexed (correct, but a scan of every line)")
        return
    # A savepoint: a role without the right to create extensions must not abort the migration.
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        log.warning("cannot create extension pg_trgm (%s): log text search stays unindexed",
                    str(exc.orig).splitlines()[0])
        return
    op.create_index(INDEX, 'log_entries', ['message'], postgresql_using='gin',
                    postgresql_ops={'message': 'gin_trgm_ops'})


def downgrade() -> None:
    op.execute(f'DROP INDEX IF EXISTS {INDEX}')
    # The extension stays: other objects (a person's own indexes) may use it.
