"""decision principals: who made each decision, and who proposed each ops change

``approvals.principal`` names the authenticated party behind a decision ("api:approver-token",
"api:api-token", "user:alice", "jason (timeout)"); ``decided_by`` keeps the channel (person, api,
jason) and ``actor`` the name a caller gave. ``ops_changes.proposed_by`` names who proposed it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('approvals', sa.Column('principal', sa.String(length=200),
                                         server_default='', nullable=False))
    op.add_column('ops_changes', sa.Column('proposed_by', sa.String(length=200),
                                           server_default='', nullable=False))


def downgrade() -> None:
    op.drop_column('ops_changes', 'proposed_by')
    op.drop_column('approvals', 'principal')
