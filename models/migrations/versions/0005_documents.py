"""documents

The files a practitioner sends with a request (portfolio overview, patient-record extract):
one row per file, the bytes stored outside the web root under their SHA-256 hash.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = ('ASSOCIATION_STAFF', 'REGISTER_STAFF', 'REVIEWER', 'PRACTITIONER', 'OPERATOR', 'SYSTEM')


def _role() -> sa.types.TypeEngine:
    """The existing `role` type: PostgreSQL must not create it a second time."""
    return sa.Enum(*ROLES, name='role').with_variant(
        postgresql.ENUM(*ROLES, name='role', create_type=False), 'postgresql')


def upgrade() -> None:
    op.create_table('document',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('PORTFOLIO', 'PATIENT_RECORDS', name='documentkind'),
              nullable=False),
    sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('media_type', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('uploaded_by_role', _role(), nullable=False),
    sa.Column('uploaded_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_case_id'), ['case_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_document_case_id'))
    op.drop_table('document')
    sa.Enum(name='documentkind').drop(op.get_bind(), checkfirst=True)
