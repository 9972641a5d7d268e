"""bank worklist

A statement line that is not fully matched stays open until KP links or handles it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('bankentry', sa.Column('handled_at', sa.DateTime(timezone=True),
                                         nullable=True))
    op.add_column('bankentry', sa.Column('handled_by',
                                         sqlmodel.sql.sqltypes.AutoString(length=200),
                                         nullable=False, server_default=''))
    op.add_column('bankentry', sa.Column('handling',
                                         sqlmodel.sql.sqltypes.AutoString(length=500),
                                         nullable=False, server_default=''))
    op.create_index(op.f('ix_bankentry_handled_at'), 'bankentry', ['handled_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_bankentry_handled_at'), table_name='bankentry')
    op.drop_column('bankentry', 'handling')
    op.drop_column('bankentry', 'handled_by')
    op.drop_column('bankentry', 'handled_at')
