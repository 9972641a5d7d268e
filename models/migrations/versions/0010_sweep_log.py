"""sweep log

One row per finished sweep, so pages can tell whether the reconciler runs.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sweeprun',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_sweeprun_finished_at'), 'sweeprun', ['finished_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_sweeprun_finished_at'), table_name='sweeprun')
    op.drop_table('sweeprun')
