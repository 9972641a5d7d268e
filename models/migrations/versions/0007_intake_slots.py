"""intake slots

The times VvOCM offers for the online intake call, and which one the practitioner picked.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('intakeslot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('video_link', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('offered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('chosen_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('intakeslot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_intakeslot_case_id'), ['case_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('intakeslot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_intakeslot_case_id'))
    op.drop_table('intakeslot')
