"""alerts a sink failed to take, sent to it again by alert_retry_sensor

Revision ID: alerts_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

import halo_platform.core.models

revision = 'alerts_0001'
down_revision = None
branch_labels = ('alerts',)
depends_on = None


def upgrade() -> None:
    op.create_table('alert_retries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('sink', sa.String(length=128), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('record', sa.Text(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('first_failed_at', halo_platform.core.models.UtcDateTime(), nullable=False),
    sa.Column('next_attempt_at', halo_platform.core.models.UtcDateTime(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alert_retries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_retries_next_attempt_at'), ['next_attempt_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('alert_retries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_retries_next_attempt_at'))
    op.drop_table('alert_retries')
