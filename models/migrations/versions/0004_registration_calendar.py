"""registration calendar

Registrations are unique per practitioner, specialisation and period start (the key of a
register's export), indexed by period end for the calendar sweep; the calendar's notices get a
table of their own, unique per registration and kind.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 20:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.create_unique_constraint(
            'uq_registration_period', ['practitioner_id', 'specialisation', 'period_start'])
        batch_op.create_index('ix_registration_calendar', ['specialisation', 'period_end'],
                              unique=False)

    op.create_table('registrationnotice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('sent_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['registration_id'], ['registration.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('registration_id', 'kind', name='uq_notice_kind')
    )
    with op.batch_alter_table('registrationnotice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registrationnotice_registration_id'),
                              ['registration_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('registrationnotice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registrationnotice_registration_id'))
    op.drop_table('registrationnotice')
    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.drop_index('ix_registration_calendar')
        batch_op.drop_constraint('uq_registration_period', type_='unique')
