"""case plan version

The version of the step plan a case started under (domain/procedure.py, PLAN_VERSION): a
pause added to the plan later applies only to cases that started under its version or after.
Every case before this revision started under plan 1.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('case', sa.Column('plan_version', sa.Integer(), nullable=False,
                                    server_default='1'))


def downgrade() -> None:
    op.drop_column('case', 'plan_version')
