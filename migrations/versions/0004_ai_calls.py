"""ai calls: the ledger of every call to the AI endpoint

One row per call (success or failure): project, job, purpose, model, endpoint (never the key),
tokens, time to first token, total time, cost when a price is configured, and the error.
job_id has no foreign key: the ledger outlives the jobs it accounts for.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
# PLACEHOLDER: 0003 is being written on another branch; the lead sets this when merging.
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ai_calls',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('project_id', sa.BigInteger(), nullable=True),
    sa.Column('job_id', sa.BigInteger(), nullable=True),
    sa.Column('purpose', sa.String(length=100), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('endpoint', sa.Text(), nullable=False),
    sa.Column('prompt_tokens', sa.Integer(), nullable=True),
    sa.Column('completion_tokens', sa.Integer(), nullable=True),
    sa.Column('time_to_first_token_ms', sa.Float(), nullable=True),
    sa.Column('total_ms', sa.Float(), nullable=True),
    sa.Column('cost', sa.Numeric(precision=14, scale=6), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_ai_calls_project_id_projects'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ai_calls'))
    )
    op.create_index('ix_ai_calls_project_id', 'ai_calls', ['project_id'], unique=False,
                    postgresql_where=sa.text('project_id IS NOT NULL'))
    op.create_index('ix_ai_calls_created_at', 'ai_calls', ['created_at'], unique=False)
    # The desktop hears new ledger rows the way it hears every other table (titan_events).
    op.execute("CREATE TRIGGER ai_calls_notify_insert AFTER INSERT ON ai_calls "
               "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
               "EXECUTE FUNCTION titan_notify_changes()")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS ai_calls_notify_insert ON ai_calls")
    op.drop_index('ix_ai_calls_created_at', table_name='ai_calls')
    op.drop_index('ix_ai_calls_project_id', table_name='ai_calls')
    op.drop_table('ai_calls')
