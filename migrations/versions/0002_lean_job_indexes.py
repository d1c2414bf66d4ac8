"""lean job indexes: index only the jobs that have a project, an ops change, a dedupe key

Every claim and completion writes a new version of the job row, and each non-partial index gets
an entry for it. Plain jobs (no project, no ops change, no dedupe key) now skip three of them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 04:00:00
"""

from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

LIVE = "status IN ('queued', 'running')"


def upgrade() -> None:
    op.drop_index('ix_jobs_project_id', table_name='jobs')
    op.drop_index('ix_jobs_ops_change_id', table_name='jobs')
    op.drop_index('uq_jobs_dedupe_key_live', table_name='jobs')
    op.create_index('ix_jobs_project_id', 'jobs', ['project_id'],
                    postgresql_where="project_id IS NOT NULL")
    op.create_index('ix_jobs_ops_change_id', 'jobs', ['ops_change_id'],
                    postgresql_where="ops_change_id IS NOT NULL")
    op.create_index('uq_jobs_dedupe_key_live', 'jobs', ['dedupe_key'], unique=True,
                    postgresql_where=f"{LIVE} AND dedupe_key IS NOT NULL")


def downgrade() -> None:
    op.drop_index('uq_jobs_dedupe_key_live', table_name='jobs')
    op.drop_index('ix_jobs_ops_change_id', table_name='jobs')
    op.drop_index('ix_jobs_project_id', table_name='jobs')
    op.create_index('ix_jobs_project_id', 'jobs', ['project_id'])
    op.create_index('ix_jobs_ops_change_id', 'jobs', ['ops_change_id'])
    op.create_index('uq_jobs_dedupe_key_live', 'jobs', ['dedupe_key'], unique=True,
                    postgresql_where=LIVE)
