"""jobs view: partial indexes over the jobs that went wrong (dead, failed, cancelled)

The Jobs view and ``GET /api/jobs`` filter by state and kind across every job, and bulk retry
acts on "every dead job of kind X". Over a million jobs, finding the few dead ones among the
succeeded took a scan of the whole table (0.2-0.4 s). These indexes hold only dead, failed and
cancelled rows: a job that succeeds never enters them, so claims and completions (the queue's
hot path) pay nothing for them.

Revision ID: 0010
Revises: 0006
Create Date: 2026-12-07 09:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

WENT_WRONG = "status IN ('dead', 'failed', 'cancelled')"


def upgrade() -> None:
    op.create_index('ix_jobs_went_wrong_id', 'jobs', ['id'],
                    postgresql_where=sa.text(WENT_WRONG))
    op.create_index('ix_jobs_went_wrong_kind_id', 'jobs', ['kind', 'id'],
                    postgresql_where=sa.text(WENT_WRONG))


def downgrade() -> None:
    op.drop_index('ix_jobs_went_wrong_kind_id', table_name='jobs')
    op.drop_index('ix_jobs_went_wrong_id', table_name='jobs')
