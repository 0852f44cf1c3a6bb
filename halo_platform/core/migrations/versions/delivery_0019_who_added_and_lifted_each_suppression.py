"""who added and lifted each suppression

Revision ID: delivery_0019
Revises: delivery_0018

Lifting an opt-out (`halo delivery unsuppress`, an inbound START) deleted its row, and with it
who had added it; who lifted it, when and why was recorded nowhere. Each suppression added or
lifted is now kept in `suppression_changes` (who, when, the masked reason, the recipient's keyed
hash as `suppressions` keeps it). Created after delivery_0017, the table takes the database's
utf8mb4 on MariaDB.
"""

import sqlalchemy as sa
from alembic import op

import halo_platform.core.models

revision = 'delivery_0019'
down_revision = 'delivery_0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('suppression_changes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('recipient_hash', sa.String(length=64), nullable=False),
    sa.Column('change', sa.String(length=8), nullable=False),
    sa.Column('scope', sa.String(length=8), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=True),
    sa.Column('changed_by', sa.String(length=255), nullable=True),
    sa.Column('at', halo_platform.core.models.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_suppression_changes_at'), 'suppression_changes', ['at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_suppression_changes_at'), table_name='suppression_changes')
    op.drop_table('suppression_changes')
