"""deploy targets: where a project's deploy step puts its output (issue 19, part 7)

``deploy_target`` names the target (``local``: the loopback site host, as before; ``folder``,
``github-pages``, ``render``: see worker/deploy). ``deploy_config`` holds the target's options
(web root, public URL, repository, the *name* of the variable holding a hook): never a token.

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-07 09:40:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('projects', sa.Column('deploy_target', sa.String(length=30),
                                        server_default='local', nullable=False))
    op.add_column('projects', sa.Column('deploy_config', postgresql.JSONB(astext_type=sa.Text()),
                                        server_default=sa.text("'{}'::jsonb"), nullable=False))


def downgrade() -> None:
    op.drop_column('projects', 'deploy_config')
    op.drop_column('projects', 'deploy_target')
