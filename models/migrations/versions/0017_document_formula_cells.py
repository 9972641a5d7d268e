"""document formula cells

Whether an uploaded CSV extract holds cells a spreadsheet would run as formulas: it is kept as
sent (it is evidence) and staff see a warning next to it. Files sent before this revision were
never checked and stay unmarked.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('document', sa.Column('formula_cells', sa.Boolean(), nullable=False,
                                        server_default=sa.false()))


def downgrade() -> None:
    op.drop_column('document', 'formula_cells')
