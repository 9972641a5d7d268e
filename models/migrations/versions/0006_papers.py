"""papers

Mails carry attachments (kept by hash, like uploads); a certificate and an invoice keep the PDF
they were mailed with, so a later download is the same file; an invoice keeps its due date;
a practitioner has a postal address for invoices.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 21:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outboxmail', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attachments', sa.JSON(), nullable=False,
                                      server_default='[]'))
    with op.batch_alter_table('certificate', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pdf_sha256', sqlmodel.sql.sqltypes.AutoString(length=64),
                                      nullable=True))
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('due_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('pdf_sha256', sqlmodel.sql.sqltypes.AutoString(length=64),
                                      nullable=True))
    with op.batch_alter_table('practitioner', schema=None) as batch_op:
        batch_op.add_column(sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=300),
                                      nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('practitioner', schema=None) as batch_op:
        batch_op.drop_column('address')
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_column('pdf_sha256')
        batch_op.drop_column('due_on')
    with op.batch_alter_table('certificate', schema=None) as batch_op:
        batch_op.drop_column('pdf_sha256')
    with op.batch_alter_table('outboxmail', schema=None) as batch_op:
        batch_op.drop_column('attachments')
