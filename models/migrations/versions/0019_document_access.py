"""document access

Every look at a file a practitioner sent (the patient-record extract is health data): who opened
it, in what role, and when. Looks before this revision were not recorded.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = ('ASSOCIATION_STAFF', 'REGISTER_STAFF', 'REVIEWER', 'PRACTITIONER', 'OPERATOR', 'SYSTEM')


def _role() -> sa.types.TypeEngine:
    """The existing `role` type: PostgreSQL must not create it a second time."""
    return sa.Enum(*ROLES, name='role').with_variant(
        postgresql.ENUM(*ROLES, name='role', create_type=False), 'postgresql')


def upgrade() -> None:
    op.create_table('document_access',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('actor_role', _role(), nullable=False),
    sa.Column('actor_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.ForeignKeyConstraint(['document_id'], ['document.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('document_access', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_access_case_id'), ['case_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_document_access_document_id'), ['document_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('document_access', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_document_access_document_id'))
        batch_op.drop_index(batch_op.f('ix_document_access_case_id'))
    op.drop_table('document_access')
