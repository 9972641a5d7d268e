"""access log

Who looked at health data: every view or download of a file a practitioner sent and every view
of a case's evidence by staff or a reviewer (who, role, when, what, from where). Looks before
this revision were not recorded.

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
    op.create_table('access_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('practitioner_id', sa.Integer(), nullable=False),
    sa.Column('looked', sa.Enum('DOCUMENT', 'CASE_PAGE', 'DOSSIER', 'API_CASE', name='looked'),
              nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=True),
    sa.Column('actor_role', _role(), nullable=False),
    sa.Column('actor_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('client', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.ForeignKeyConstraint(['document_id'], ['document.id'], ),
    sa.ForeignKeyConstraint(['practitioner_id'], ['practitioner.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_access_log_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_access_log_practitioner_id'), ['practitioner_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_access_log_practitioner_id'))
        batch_op.drop_index(batch_op.f('ix_access_log_case_id'))
    op.drop_table('access_log')
    sa.Enum(name='looked').drop(op.get_bind(), checkfirst=True)
