"""one-time passwords

A one-time password logs in once; that login may only choose the person's own password.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('staffuser', sa.Column('one_time_password', sa.Boolean(), nullable=False,
                                         server_default=sa.false()))
    op.add_column('staffuser', sa.Column('one_time_used_at', sa.DateTime(timezone=True),
                                         nullable=True))


def downgrade() -> None:
    op.drop_column('staffuser', 'one_time_used_at')
    op.drop_column('staffuser', 'one_time_password')
