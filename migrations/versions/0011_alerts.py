"""alerts and project builds (issue 19, parts 8 and 4)

``alerts``: one row per alert Titan raised (a dead job, an approval waiting too long, a worker
that stopped heart-beating, a failed backup). ``key`` is unique: the INSERT that claims an alert
is what keeps several workers (and restarts) from sending it twice. ``status`` follows its
webhook delivery: pending -> sent | failed, or ``recorded`` when no webhook is configured.

``projects.build`` / ``artifacts.build``: a project rebuilt with an edited spec starts build
n + 1; the artifacts of earlier builds stay, so their uniqueness now includes the build.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 09:45:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alerts',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('event', sa.String(length=50), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('project_id', sa.BigInteger(), nullable=True),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('status', sa.String(length=20), server_default='pending', nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'sent', 'failed', 'recorded')", name=op.f('ck_alerts_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts')),
    sa.UniqueConstraint('key', name=op.f('uq_alerts_key'))
    )
    op.create_index('ix_alerts_pending', 'alerts', ['claimed_at'], unique=False,
                    postgresql_where=sa.text("status = 'pending'"))
    # The desktop hears new alerts the way it hears every other table (titan_events).
    op.execute("CREATE TRIGGER alerts_notify_insert AFTER INSERT ON alerts "
               "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
               "EXECUTE FUNCTION titan_notify_changes()")

    op.create_index('ix_jobs_dead', 'jobs', ['finished_at'], unique=False,
                    postgresql_where=sa.text("status = 'dead'"))

    op.add_column('projects', sa.Column('build', sa.Integer(), server_default='1',
                                        nullable=False))
    op.add_column('artifacts', sa.Column('build', sa.Integer(), server_default='1',
                                         nullable=False))
    op.drop_constraint('uq_artifacts_project_kind_name', 'artifacts', type_='unique')
    op.create_unique_constraint('uq_artifacts_project_build_kind_name', 'artifacts',
                                ['project_id', 'build', 'kind', 'name'])


def downgrade() -> None:
    # Earlier builds' artifacts would collide with the old constraint: keep the newest build's.
    op.execute("DELETE FROM artifacts a USING projects p "
               "WHERE a.project_id = p.id AND a.build <> p.build")
    op.drop_constraint('uq_artifacts_project_build_kind_name', 'artifacts', type_='unique')
    op.create_unique_constraint('uq_artifacts_project_kind_name', 'artifacts',
                                ['project_id', 'kind', 'name'])
    op.drop_column('artifacts', 'build')
    op.drop_column('projects', 'build')
    op.drop_index('ix_jobs_dead', table_name='jobs')
    op.execute("DROP TRIGGER IF EXISTS alerts_notify_insert ON alerts")
    op.drop_index('ix_alerts_pending', table_name='alerts')
    op.drop_table('alerts')
