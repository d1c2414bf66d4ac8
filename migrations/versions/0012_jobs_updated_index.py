"""jobs view: an index on (updated_at, id) of finished jobs, for the sort by Updated

The Jobs view and ``GET /api/jobs?sort=updatedAt`` page by keyset on (updated_at, id). Without an
index, the first page over a million jobs sorted the whole table (210 ms on a quiet machine,
~0.5 s loaded).

A full index on (updated_at, id) would be written three times per job (enqueue, claim,
completion all set updated_at); measured with bench/queue.py it cost the queue about 7 % of its
jobs/s (bench/README.md, "Jobs view"). This one holds finished jobs only, so a job enters it
once, when it finishes (or again if retried and finished again); the few live jobs (queued,
running) are read through the claim and lease indexes and merged in (worker/services/jobs.py).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 13:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

FINISHED = "status NOT IN ('queued', 'running')"


def upgrade() -> None:
    op.create_index('ix_jobs_finished_updated', 'jobs', ['updated_at', 'id'],
                    postgresql_where=sa.text(FINISHED))


def downgrade() -> None:
    op.drop_index('ix_jobs_finished_updated', table_name='jobs')
