"""ai rounds: each round of the repair loop (issue 18)

One row per round: the project and job it worked for, which loop run it belongs to, its number
(of how many), the unified diff its edits made, the check's summary, exit code and the tail of its output, whether it
passed, its tokens and the edits that were refused (with their reasons).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 06:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ai_rounds',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('project_id', sa.BigInteger(), nullable=True),
    sa.Column('job_id', sa.BigInteger(), nullable=True),
    sa.Column('loop_id', sa.String(length=32), nullable=False),
    sa.Column('purpose', sa.String(length=100), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('max_rounds', sa.Integer(), nullable=False),
    sa.Column('diff', sa.Text(), server_default='', nullable=False),
    sa.Column('check_summary', sa.Text(), nullable=False),
    sa.Column('check_exit_code', sa.Integer(), nullable=True),
    sa.Column('check_output', sa.Text(), server_default='', nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('tokens', sa.Integer(), server_default='0', nullable=False),
    sa.Column('refusals', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_ai_rounds_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ai_rounds'))
    )
    op.create_index('ix_ai_rounds_project_id', 'ai_rounds', ['project_id'], unique=False,
                    postgresql_where=sa.text('project_id IS NOT NULL'))
    op.create_index('ix_ai_rounds_loop_id', 'ai_rounds', ['loop_id'], unique=False)
    # The desktop hears new rounds the way it hears every other table (titan_events).
    op.execute("CREATE TRIGGER ai_rounds_notify_insert AFTER INSERT ON ai_rounds "
               "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
               "EXECUTE FUNCTION titan_notify_changes()")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS ai_rounds_notify_insert ON ai_rounds")
    op.drop_index('ix_ai_rounds_loop_id', table_name='ai_rounds')
    op.drop_index('ix_ai_rounds_project_id', table_name='ai_rounds')
    op.drop_table('ai_rounds')
