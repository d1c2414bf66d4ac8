"""lean job writes: partial job indexes; a trigger, not a foreign key, ties runs to jobs

Every claim and completion writes a new version of the job row, and each non-partial index gets
an entry for it. Plain jobs (no project, no ops change, no dedupe key) now skip three of them.

Every claim opens a run per job; the foreign key runs.job_id -> jobs.id re-checked (and
key-share locked) the job row the same statement had just claimed, a fifth of the claim's
cost. Only the claim writes runs, so the key goes; a statement-level trigger deletes a job's
runs with the job, as the key's ON DELETE CASCADE did.

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

DELETE_RUNS = """
CREATE FUNCTION titan_delete_job_runs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM runs WHERE job_id IN (SELECT id FROM old_rows);
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_delete_runs AFTER DELETE ON jobs REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION titan_delete_job_runs();
"""


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
    op.drop_constraint('fk_runs_job_id_jobs', 'runs', type_='foreignkey')
    op.execute(DELETE_RUNS)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS jobs_delete_runs ON jobs")
    op.execute("DROP FUNCTION IF EXISTS titan_delete_job_runs()")
    op.execute("DELETE FROM runs WHERE job_id NOT IN (SELECT id FROM jobs)")
    op.create_foreign_key('fk_runs_job_id_jobs', 'runs', 'jobs', ['job_id'], ['id'],
                          ondelete='CASCADE')
    op.drop_index('uq_jobs_dedupe_key_live', table_name='jobs')
    op.drop_index('ix_jobs_ops_change_id', table_name='jobs')
    op.drop_index('ix_jobs_project_id', table_name='jobs')
    op.create_index('ix_jobs_project_id', 'jobs', ['project_id'])
    op.create_index('ix_jobs_ops_change_id', 'jobs', ['ops_change_id'])
    op.create_index('uq_jobs_dedupe_key_live', 'jobs', ['dedupe_key'], unique=True,
                    postgresql_where=LIVE)
