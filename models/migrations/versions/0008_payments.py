"""payments

Online payments through a provider (iDEAL) and the credit lines of bank statements, each
unique by its own reference.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('onlinepayment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('provider_id', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('checkout_url', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('status', sa.Enum('OPEN', 'PAID', 'FAILED', 'EXPIRED', 'CANCELED',
                                name='onlinestatus'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('provider_id')
    )
    with op.batch_alter_table('onlinepayment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_onlinepayment_invoice_id'), ['invoice_id'],
                              unique=False)
    op.create_table('bankentry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('statement', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('booked_on', sa.Date(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('remittance', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('debtor', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.Enum('MATCHED', 'PARTIAL', 'UNMATCHED', 'ALREADY_PAID',
                                 name='entryoutcome'), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account', 'reference', name='uq_bank_entry')
    )


def downgrade() -> None:
    op.drop_table('bankentry')
    with op.batch_alter_table('onlinepayment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_onlinepayment_invoice_id'))
    op.drop_table('onlinepayment')
    sa.Enum(name='entryoutcome').drop(op.get_bind(), checkfirst=True)
    sa.Enum(name='onlinestatus').drop(op.get_bind(), checkfirst=True)
