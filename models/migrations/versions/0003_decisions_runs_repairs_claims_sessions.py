"""decisions, runs, repairs, claims, sessions

Decisions move out of the history into their own table (the history is append-only again),
the case gets a version for compare-and-set, a run generation, repair and claim columns, and
staff logins become server-side sessions. Practitioner identity changes get an audit table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 04:08:59.901358
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = ('ASSOCIATION_STAFF', 'REGISTER_STAFF', 'REVIEWER', 'PRACTITIONER', 'OPERATOR', 'SYSTEM')


def _role() -> sa.types.TypeEngine:
    """The existing `role` type: PostgreSQL must not create it a second time."""
    return sa.Enum(*ROLES, name='role').with_variant(
        postgresql.ENUM(*ROLES, name='role', create_type=False), 'postgresql')


def upgrade() -> None:
    op.create_table('practitionerchange',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('practitioner_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_role', _role(), nullable=False),
    sa.Column('actor_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('before', sa.JSON(), nullable=False),
    sa.Column('after', sa.JSON(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.ForeignKeyConstraint(['practitioner_id'], ['practitioner.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('practitionerchange', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_practitionerchange_practitioner_id'), ['practitioner_id'], unique=False)

    op.create_table('staffsession',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staffuser.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('staffsession', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staffsession_staff_id'), ['staff_id'], unique=False)

    op.create_table('decisionrecord',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('pause_key', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('input', sa.JSON(), nullable=False),
    sa.Column('actor_role', _role(), nullable=False),
    sa.Column('actor_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('source', sa.Enum('SERVICE', 'PREFECT_UI', name='decisionsource'), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('consumed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'pause_key', name='uq_decision_pause')
    )
    with op.batch_alter_table('decisionrecord', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_decisionrecord_case_id'), ['case_id'], unique=False)

    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('run_generation', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('claim_key', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('repair_attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('stuck_reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
        batch_op.add_column(sa.Column('stuck_since', sa.DateTime(timezone=True), nullable=True))

    # Decisions recorded so far become records; those handed to a run count as consumed.
    postgres = op.get_bind().dialect.name == 'postgresql'
    source = "CASE WHEN actor_name = 'Prefect UI' THEN 'PREFECT_UI' ELSE 'SERVICE' END"
    if postgres:
        source = f"CAST({source} AS decisionsource)"
    op.execute(f"""
        INSERT INTO decisionrecord (case_id, pause_key, action, input, actor_role, actor_name,
                                    source, recorded_at, consumed_at)
        SELECT case_id, substr(key, 10), action, input, actor_role, actor_name,
               {source},
               at, resumed_at
        FROM caseevent WHERE kind = 'DECISION' AND key LIKE 'decision:%'
    """)
    with op.batch_alter_table('caseevent', schema=None) as batch_op:
        batch_op.drop_column('resumed_at')

    if postgres:
        with op.get_context().autocommit_block():
            op.execute("ALTER TYPE mailstatus ADD VALUE IF NOT EXISTS 'DEAD'")


def downgrade() -> None:
    with op.batch_alter_table('caseevent', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resumed_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_column('stuck_since')
        batch_op.drop_column('stuck_reason')
        batch_op.drop_column('repair_attempts')
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('claim_key')
        batch_op.drop_column('run_generation')
        batch_op.drop_column('version')

    with op.batch_alter_table('decisionrecord', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_decisionrecord_case_id'))
    op.drop_table('decisionrecord')
    with op.batch_alter_table('staffsession', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staffsession_staff_id'))
    op.drop_table('staffsession')
    with op.batch_alter_table('practitionerchange', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_practitionerchange_practitioner_id'))
    op.drop_table('practitionerchange')
