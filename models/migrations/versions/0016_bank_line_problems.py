"""bank line problems

Why a statement line was not booked by itself, for KP's worklist: another account, an
unreadable amount or date, a payment the case refused.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('bankentry', sa.Column('problem',
                                         sqlmodel.sql.sqltypes.AutoString(length=300),
                                         nullable=False, server_default=''))


def downgrade() -> None:
    op.drop_column('bankentry', 'problem')
