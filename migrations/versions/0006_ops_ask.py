"""ops ask: a change a model drafted on request (issue 18, "Titan changes itself")

The request text (``ask``; NULL for a change a person wrote as patches), the model that drafted
it, the tokens its drafts used (from the ai_calls ledger) and how many drafts it took (1: the
first draft; 2: the draft after its one repair round).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 06:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('ops_changes', sa.Column('ask', sa.Text(), nullable=True))
    op.add_column('ops_changes', sa.Column('ai_model', sa.String(length=200), nullable=True))
    op.add_column('ops_changes', sa.Column('ai_tokens', sa.Integer(), server_default='0',
                                           nullable=False))
    op.add_column('ops_changes', sa.Column('ai_drafts', sa.Integer(), server_default='0',
                                           nullable=False))


def downgrade() -> None:
    op.drop_column('ops_changes', 'ai_drafts')
    op.drop_column('ops_changes', 'ai_tokens')
    op.drop_column('ops_changes', 'ai_model')
    op.drop_column('ops_changes', 'ask')
