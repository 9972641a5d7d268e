"""identity conflicts

An import row that gives a known KP number another name or e-mail address waits for a person.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('identityconflict',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('practitioner_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('found_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('applied', sa.Boolean(), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.ForeignKeyConstraint(['practitioner_id'], ['practitioner.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_identityconflict_practitioner_id'), 'identityconflict',
                    ['practitioner_id'], unique=False)
    op.create_index(op.f('ix_identityconflict_resolved_at'), 'identityconflict',
                    ['resolved_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_identityconflict_resolved_at'), table_name='identityconflict')
    op.drop_index(op.f('ix_identityconflict_practitioner_id'), table_name='identityconflict')
    op.drop_table('identityconflict')
