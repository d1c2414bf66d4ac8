"""jobs view: an index on (updated_at, id) for the sort by Updated without a state filter

The Jobs view and ``GET /api/jobs?sort=updatedAt`` page by keyset on (updated_at, id). Without an
index, the first page over a million jobs sorted the whole table (210 ms on a quiet machine,
~0.5 s loaded); with it, a page is a backward range scan of the index.

Every enqueue, claim and completion writes updated_at, so each now also inserts into this index.
Those updates already change ``status``, which partial indexes' predicates read, so they were not
HOT updates before either: the cost is the one index insertion, measured with bench/queue.py
(bench/README.md, "Jobs view").

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 13:00:00
"""

from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_jobs_updated_at_id', 'jobs', ['updated_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_jobs_updated_at_id', table_name='jobs')
