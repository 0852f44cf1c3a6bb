"""scheduling item blocks: a local start and a duration

Revision ID: availability_0009
Revises: availability_0008

An HL7 appointment given as a local start and a duration (AIS/AIP) lasts that duration across a
DST change: `end_elapsed` marks a local block whose end is its start's instant plus
`end_ts - start_ts`, not the wall time `end_ts`. Blocks stored before keep their wall-time end
(false), as they were computed.
"""

import sqlalchemy as sa
from alembic import op

revision = 'availability_0009'
down_revision = 'availability_0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('scheduling_item_blocks') as batch_op:
        batch_op.add_column(sa.Column('end_elapsed', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('scheduling_item_blocks') as batch_op:
        batch_op.drop_column('end_elapsed')
