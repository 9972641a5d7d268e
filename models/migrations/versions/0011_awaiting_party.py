"""who a case waits for

Only a wait on the practitioner may expire a case (issue 20); the party of the current wait is
kept on the case, since within VvOCM's intake pause it moves to the practitioner (who picks a
time) and back. Running cases get theirs from the action they await.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As flows/inputs.py declares them on this day; a migration keeps its own copy.
PARTIES = {
    "association_decision": "association", "intake_outcome": "association",
    "portfolio_reopened": "register", "submit": "practitioner",
    "payment_received": "practitioner", "completeness": "register",
    "completion_supplied": "practitioner", "assign_reviewer": "register",
    "findings": "reviewer", "additions_supplied": "practitioner",
}


def upgrade() -> None:
    op.add_column('case', sa.Column('awaiting_party',
                                    sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
    case = sa.table('case', sa.column('awaiting_action', sa.String()),
                    sa.column('awaiting_party', sa.String()))
    for action, party in PARTIES.items():
        op.execute(case.update().where(case.c.awaiting_action == action)
                   .values(awaiting_party=party))


def downgrade() -> None:
    op.drop_column('case', 'awaiting_party')
