"""Logs text search: a trigram GIN index on log_entries.message (issue 19, the logs benchmark)

The Logs tab, ``titan logs`` and ``GET /api/logs`` search with ``message ILIKE '%text%'``.
Unindexed, that reads every row (224 ms over a million lines); a trigram GIN index answers it for
patterns of three characters or more.

- Where PostgreSQL has ``pg_trgm`` (a contrib module: Debian's ``postgresql-15`` has it), the
  index is ``gin (message gin_trgm_ops)``, which serves the ILIKE itself.
- The embedded server (pgserver) ships without ``pg_trgm`` (its build carries only plpgsql and
  pgvector), and a role may lack the right to create it. There the migration creates a
  function ``titan_trigrams(text)`` (the three-character substrings of the lowered
  text, in PL/pgSQL) and a GIN index on ``titan_trigrams(message)``; the search adds
  ``titan_trigrams(message) @> titan_trigrams(needle)`` beside the ILIKE
  (worker/services/logquery.py), which is true of every line the ILIKE matches.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-07 09:40:00
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

INDEX = 'ix_log_entries_message_trgm'
FALLBACK_INDEX = 'ix_log_entries_message_3grams'
log = logging.getLogger("alembic.runtime.migration")

# The 3-grams of the lowered text: ILIKE compares lowered text too, so a line it matches holds
# every 3-gram of the needle. One pass over the characters (substr(s, i, 3) would walk UTF-8
# from the start each time); 5x faster than a generate_series or regexp_replace SQL function,
# which matters: every log line written computes it for the index.
TRIGRAMS_FUNCTION = """
CREATE OR REPLACE FUNCTION titan_trigrams(t text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    c text[] := string_to_array(lower(t), NULL);
    n int := coalesce(array_length(c, 1), 0) - 2;
    grams text[];
BEGIN
    IF n < 1 THEN
        RETURN '{}';
    END IF;
    grams := array_fill(NULL::text, ARRAY[n]);
    FOR i IN 1..n LOOP
        grams[i] := c[i] || c[i + 1] || c[i + 2];
    END LOOP;
    RETURN grams;
END
$$
"""


def upgrade() -> None:
    if _pg_trgm():
        op.create_index(INDEX, 'log_entries', ['message'], postgresql_using='gin',
                        postgresql_ops={'message': 'gin_trgm_ops'})
        return
    op.execute(TRIGRAMS_FUNCTION)
    op.execute(f'CREATE INDEX {FALLBACK_INDEX} ON log_entries USING gin '
               f'(titan_trigrams(message))')


def _pg_trgm() -> bool:
    """Create pg_trgm if this server can; False (and why, in the log) where it cannot."""
    bind = op.get_bind()
    available = bind.execute(sa.text(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'")).scalar()
    if not available:
        log.warning("pg_trgm is not available on this PostgreSQL server: log text search uses "
                    "Titan's own trigram index (titan_trigrams)")
        return False
    # A savepoint: a role without the right to create extensions must not abort the migration.
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        log.warning("cannot create extension pg_trgm (%s): log text search uses Titan's own "
                    "trigram index (titan_trigrams)", str(exc.orig).splitlines()[0])
        return False
    return True


def downgrade() -> None:
    op.execute(f'DROP INDEX IF EXISTS {INDEX}')
    op.execute(f'DROP INDEX IF EXISTS {FALLBACK_INDEX}')
    op.execute('DROP FUNCTION IF EXISTS titan_trigrams(text)')
    # pg_trgm stays: other objects (a person's own indexes) may use it.
