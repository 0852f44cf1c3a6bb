"""next available slot per appointment type

Revision ID: availability_0003
Revises: availability_0002

The table is derived (rewritten for each feed by every processing run), so it is recreated
with its new key rather than altered: the next run fills it.
"""

import sqlalchemy as sa
from alembic import op

import halo_platform.core.models

revision = 'availability_0003'
down_revision = 'availability_0002'
branch_labels = None
depends_on = None


def _create(key: str) -> None:
    op.create_table('next_available_slots',
    sa.Column('feed', sa.String(length=64), nullable=False),
    sa.Column('provider_id', sa.String(length=255), nullable=False),
    *([sa.Column('slot_type', sa.String(length=64), nullable=False)] if key == 'slot_type' else []),
    sa.Column('duration_minutes', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('start_at', halo_platform.core.models.UtcDateTime(), nullable=False),
    sa.Column('end_at', halo_platform.core.models.UtcDateTime(), nullable=False),
    sa.Column('computed_at', halo_platform.core.models.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('feed', 'provider_id', key)
    )


def upgrade() -> None:
    op.drop_table('next_available_slots')
    _create('slot_type')


def downgrade() -> None:
    op.drop_table('next_available_slots')
    _create('duration_minutes')
