"""throttles

Login failures are throttled per client instead of locking the account (which anyone could do
to someone else's); the way in is throttled per client and per KP number. The account lock's
columns go.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('throttlehit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_throttlehit_kind'), 'throttlehit', ['kind'], unique=False)
    op.create_index(op.f('ix_throttlehit_key'), 'throttlehit', ['key'], unique=False)
    op.create_index(op.f('ix_throttlehit_at'), 'throttlehit', ['at'], unique=False)
    with op.batch_alter_table('staffuser') as batch:
        batch.drop_column('failed_logins')
        batch.drop_column('locked_until')


def downgrade() -> None:
    with op.batch_alter_table('staffuser') as batch:
        batch.add_column(sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('failed_logins', sa.Integer(), nullable=False,
                                   server_default='0'))
    op.drop_index(op.f('ix_throttlehit_at'), table_name='throttlehit')
    op.drop_index(op.f('ix_throttlehit_key'), table_name='throttlehit')
    op.drop_index(op.f('ix_throttlehit_kind'), table_name='throttlehit')
    op.drop_table('throttlehit')
